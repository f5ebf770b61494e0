//! Every scenario on every adapter × store, and one session shared by all adapters over one
//! Redis.

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
    tests::scenarios::shared_session(&[&axum, &rocket, &warp]).await;
}
