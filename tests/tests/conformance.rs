//! Every scenario on every adapter × store, and one session shared by all adapters over one
//! Redis.
//!
//! `name => expression`: the scenario runs with that configuration instead of
//! `tests::config()`.

tests::conformance! {
    counter,
    lazy_session,
    cookie_attributes,
    forged_id_not_adopted,
    login_and_logout,
    params,
    basic_auth,
    cors_preflight,
    cors_headers,
    csrf,
    expiry => tests::config_with(&[("session_timeout", "1"), ("session_cookie_persistent", "true")]),
    sliding_expiry => tests::config_with(&[("session_timeout", "1"), ("session_cookie_persistent", "true")]),
    basic_sha256 => tests::config_with(&[
        ("auth_basic_encryption", "sha256"),
        ("auth_basic_password", tests::scenarios::MY_SECRET_SHA256),
    ]),
    basic_malformed,
    jwt_valid => tests::scenarios::jwt_config(),
    jwt_refused => tests::scenarios::jwt_config(),
    auth_remember => tests::config_with(&[("auth_remember", "true")]),
    params_garbage,
    index_garbage_query,
    cors_origin_list => tests::scenarios::cors_config(),
    store_down_and_recovery,
    locking => tests::config_with(&[("session_locking", "true")]),
    concurrent_writers,
    session_too_large => tests::config_with(&[("session_max_bytes", "1024")]),
    params_body_limit => tests::config_with(&[("params_body_limit", "200000")]),
    log_lines,
    csrf_every_unsafe_request,
    cookie_tossing,
    write_straddling_a_login,
    login_form_with_htpasswd_and_no_challenge,
    request_id_on_every_response,
    request_id_untrusted,
    request_id_trusted => tests::config_with(&[("request_id_trust", "true")]),
    tracing_events => tests::config_with(&[("log_sink", "tracing"), ("log_level", "INFO")]),
    lock_released_when_the_client_goes_away => tests::config_with(&[
        ("session_locking", "true"),
        ("session_lock_timeout", "2"),
    ]),
    oidc_algorithms_and_key_selection,
    oidc_discovery_and_issuer,
    oidc_rotation,
    oidc_periodic_refresh,
    oidc_cache_control_max_age,
    oidc_provider_down_keeps_the_last_good_keys,
    oidc_no_key_is_503_then_recovers,
    oidc_token_from_a_cookie,
    oidc_scope_required,
    jwt_previous_secret => tests::scenarios::jwt_rotated_config(),
    // Issue #22: session lifecycle.
    max_lifetime => tests::config_with(&[("session_max_lifetime", "300")]),
    remember_me,
    no_resent_cookie,
    partitioned_cookie => tests::config_with(&[("session_cookie_partitioned", "true")]),
    host_prefix,
    user_sessions,
    revoke_others_across_instances,
    max_per_user => tests::config_with(&[("session_max_per_user", "2")]),
    throttle_per_user => tests::config_with(&[("auth_throttle", "3/60")]),
    throttle_per_ip => tests::config_with(&[("auth_throttle_ip", "2/60"), ("log_trust_proxy", "1")]),
    throttle_across_instances => tests::config_with(&[("auth_throttle", "2/60")]),
    throttle_store_down => tests::config_with(&[("auth_throttle", "5/60"), ("auth_throttle_ip", "5/60")]),
}

// Issue #21: the basic scenarios over TLS on every adapter: a private `redis-server` serving
// `rediss://` only, with a CA made at run time and trusted through `session_store_tls_ca`
// (modules `axum_redis_tls`, `rocket_redis_tls`, `warp_redis_tls`, `actix_redis_tls`).
tests::conformance! { tls:
    counter,
    lazy_session,
    login_and_logout,
    basic_auth,
    expiry => tests::config_with(&[("session_timeout", "1"), ("session_cookie_persistent", "true")]),
    locking => tests::config_with(&[("session_locking", "true")]),
    concurrent_writers,
    log_lines,
}

/// The cross-adapter session of the test below, over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_adapter_session_over_one_redis_tls() {
    use tests::Adapter as _;

    let fixture = tests::Fixture::redis_tls().await;
    let axum = tests::Axum::start(tests::config(), fixture.store()).await;
    let rocket = tests::Rocket::start(tests::config(), fixture.store()).await;
    let warp = tests::Warp::start(tests::config(), fixture.store()).await;
    let actix = tests::Actix::start(tests::config(), fixture.store()).await;
    tests::scenarios::shared_session(&[&axum, &rocket, &warp, &actix]).await;
}

/// A session created through axum is read and incremented through Rocket and warp, then
/// axum again, over one Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_adapter_session_over_one_redis() {
    use tests::Adapter as _;

    let fixture = tests::Fixture::redis().await;
    let axum = tests::Axum::start(tests::config(), fixture.store()).await;
    let rocket = tests::Rocket::start(tests::config(), fixture.store()).await;
    let warp = tests::Warp::start(tests::config(), fixture.store()).await;
    let actix = tests::Actix::start(tests::config(), fixture.store()).await;
    tests::scenarios::shared_session(&[&axum, &rocket, &warp, &actix]).await;
    // And the other way round: made by actix, read and updated by the others.
    tests::scenarios::shared_session(&[&actix, &axum, &rocket, &warp]).await;
}
