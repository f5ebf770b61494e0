#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::log::Level;

/// The sample config of canister's README, verbatim.
const README_SAMPLE: &str = r#"[canister]

# ...due to limitations of bottle's plugin mechanism,
debug=False

# Logs
log_path = ./logs/
log_level = INFO
log_days = 30

# how long the session data will still be available after the last access, in seconds
session_timout = 3600

# applies CORS to responses, write * to allow AJAX requests from anywhere
#CORS = *

# Basic auth
auth_basic_username = alice
auth_basic_encryption = clear
auth_basic_password = my-secret

# ...or alternatively, if you dislike putting your plain text password in the config:
# auth_basic_encryption = sha256
# auth_basic_password = 186ef76e9d6a723ecb570d4d9c287487d001e5d35f7ed4a313350a407950318e


# Auth using JWT (for OAuth2)
auth_client_id = ABC
# accepted encodings are "clear", "base64std" or "base64url"
auth_jwt_encoding = base64url
auth_jwt_secret = my-secret
"#;

#[test]
fn canisters_readme_sample_loads_unchanged() {
    let c = Config::from_ini_str(README_SAMPLE).unwrap();
    assert!(!c.debug);
    assert_eq!(c.log.path.as_deref(), Some(Path::new("./logs/")));
    assert_eq!(c.log.level, Some(Level::Info));
    assert_eq!(c.log.days, 30);
    assert_eq!(c.session.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(c.cors.origins, CorsOrigins::Disabled);
    assert_eq!(c.auth.basic.username.as_deref(), Some("alice"));
    assert_eq!(
        c.auth.basic.password.as_ref().unwrap().expose(),
        "my-secret"
    );
    assert_eq!(c.auth.basic.encryption, BasicEncryption::Clear);
    // canister never read `auth_client_id`: JWT stays off, as it was in Python.
    assert_eq!(c.auth.jwt.client_id, None);
    assert_eq!(c.auth.jwt.encoding, JwtEncoding::Base64Url);
}

#[test]
fn canisters_example_configs_load() {
    let basic = "[canister]\n\n# Basic auth\nauth_basic_username = alice\nauth_basic_encryption = clear\nauth_basic_password = my-secret\n";
    let c = Config::from_ini_str(basic).unwrap();
    assert_eq!(c.auth.basic.username.as_deref(), Some("alice"));
    let oauth = "[canister]\n\n# OAuth2\nauth_jwt_client_id = alice\nauth_jwt_encoding = clear\nauth_jwt_secret = secret";
    let c = Config::from_ini_str(oauth).unwrap();
    assert_eq!(c.auth.jwt.secret.unwrap().expose(), "secret");
    let logging = "[canister]\n\n# The logs directory, if commented, output will be redirected to the console\n#log_path = ./logs/\n\n# Logging levels: DISABLED, DEBUG, INFO, WARNING, ERROR, CRITICAL\nlog_level = INFO\n\n# Log older than that will be deleted\nlog_days = 30";
    let c = Config::from_ini_str(logging).unwrap();
    assert_eq!(c.log.path, None);
}

#[test]
fn keys_are_case_insensitive_and_cors_star_or_false_work() {
    let c = Config::from_ini_str("[canister]\nCORS = *\nLog_Level = warn").unwrap();
    assert_eq!(c.cors.origins, CorsOrigins::Any);
    assert_eq!(c.log.level, Some(Level::Warning));
    let c = Config::from_ini_str("[canister]\nCORS = false\nlog_level = DISABLED").unwrap();
    assert_eq!(c.cors.origins, CorsOrigins::Disabled);
    assert_eq!(c.log.level, None);
    let c = Config::from_ini_str("[canister]\ncors: https://A.example/, http://localhost:3000")
        .unwrap();
    assert_eq!(
        c.cors.origins,
        CorsOrigins::List(vec![
            "https://a.example".into(),
            "http://localhost:3000".into()
        ])
    );
}

#[test]
fn session_timeout_zero_or_negative_never_expires() {
    for v in ["0", "-1", "-3600"] {
        let c = Config::from_ini_str(&format!("[canister]\nsession_timeout = {v}")).unwrap();
        assert_eq!(c.session.timeout, None, "{v}");
    }
}

#[test]
fn other_sections_belong_to_the_app_and_are_ignored() {
    let c =
        Config::from_ini_str("[bottle]\nanything = 1\n[canister]\nlog_days = 3\n[myapp]\nx = y")
            .unwrap();
    assert_eq!(c.log.days, 3);
}

#[test]
fn continuation_lines_and_comments_follow_configparser() {
    let entries = parse_ini("[canister]\ncors_methods = GET,\n  POST\n; comment\n# comment\nlog_days = 5 # not a comment", "t").unwrap();
    assert_eq!(entries[0].value, "GET,\nPOST");
    assert_eq!(entries[1].value, "5 # not a comment");
}

#[test]
fn syntax_errors_name_the_line() {
    let e = Config::from_ini_str("log_days = 3").unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>, line 1: entry before any section header; start the file with [canister]"
    );
    let e = Config::from_ini_str("[canister\nlog_days = 3").unwrap_err();
    assert!(e
        .to_string()
        .contains("line 1: section header is missing its closing ']'"));
    let e = Config::from_ini_str("[canister]\njust words").unwrap_err();
    assert!(e.to_string().contains("line 2: expected `key = value`"));
}

#[test]
fn every_key_rejects_a_bad_value_naming_key_value_and_expectation() {
    let cases = [
        ("debug", "maybe"),
        ("log_level", "LOUD"),
        ("log_days", "0"),
        ("log_slow_ms", "soon"),
        ("log_trust_proxy", "17"),
        ("log_trust_proxy", "-1"),
        ("log_file_mode", "0400"),
        ("log_file_mode", "0689"),
        ("log_file_mode", "01777"),
        ("log_dir_mode", "0600"),
        ("log_dir_mode", "rwx"),
        ("session_timeout", "an hour"),
        ("session_cookie", "bad name"),
        ("session_cookie_samesite", "sometimes"),
        ("session_cookie_secure", "perhaps"),
        ("session_cookie_domain", "a b"),
        ("session_cookie_path", "relative"),
        // Found by fuzzing: non-ASCII went into every Set-Cookie header.
        ("session_cookie_path", "/caf\u{e9}"),
        ("session_cookie_path", "/a\u{fffd}b"),
        ("session_cookie_path", "/a;b"),
        ("session_cookie_persistent", "x"),
        ("session_locking", "x"),
        ("session_lock_timeout", "0"),
        ("session_max", "-1"),
        ("session_max_bytes", "0"),
        ("session_max_bytes", "67108865"),
        ("session_max_bytes", "64k"),
        ("session_on_store_error", "ignore"),
        ("session_store", "mysql://x"),
        ("session_store_timeout", "-2"),
        ("cors", "example.com"),
        ("cors_methods", "GE T"),
        ("cors_headers", "bad header"),
        ("cors_expose_headers", "bad header"),
        ("cors_credentials", "x"),
        ("cors_max_age", "-1"),
        ("csrf", "x"),
        ("csrf_trusted_origins", "ftp://x"),
        ("auth_basic_username", "a:b"),
        ("auth_basic_encryption", "md5"),
        ("auth_basic_realm", "a\"b"),
        ("auth_jwt_encoding", "hex"),
        ("auth_jwt_algorithms", "none"),
        ("auth_jwt_leeway", "-1"),
        ("auth_jwt_realm", ""),
        ("auth_remember", "x"),
    ];
    for (key, value) in cases {
        let err = Config::from_ini_str(&format!("[canister]\n{key} = {value}")).unwrap_err();
        let ConfigError::InvalidValue {
            key: k,
            value: v,
            expected,
            ..
        } = &err
        else {
            panic!("{key}: {err}");
        };
        assert_eq!(k, key);
        let info = KEYS.iter().find(|i| i.name == key).unwrap();
        let shown = if info.secret {
            "********"
        } else {
            value.trim()
        };
        assert_eq!(v, shown, "{key}");
        assert_eq!(
            expected,
            KEYS.iter().find(|i| i.name == key).unwrap().expected
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("invalid value {shown:?} for `{key}`")),
            "{text}"
        );
        assert!(text.contains("expected"), "{text}");
    }
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = Config::from_ini_str("[canister]\nsesion_timeout = 10").unwrap_err();
    assert!(matches!(&err, ConfigError::UnknownKey { key, .. } if key == "sesion_timeout"));
    assert!(err
        .to_string()
        .starts_with("unknown configuration key `sesion_timeout`"));
}

#[test]
fn secret_values_are_masked_in_errors_debug_and_display() {
    let err =
        Config::from_ini_str("[canister]\nsession_store = postgres://u:hunter2@db").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let c = Config::from_ini_str(
        "[canister]\nauth_basic_username = alice\nauth_basic_password = my-secret\nauth_jwt_client_id = x\nauth_jwt_secret = jwt-secret-value\nsession_store = redis://:p4ss@localhost:6379/0",
    )
    .unwrap();
    for text in [format!("{c:?}"), c.to_string()] {
        assert!(!text.contains("my-secret"), "{text}");
        assert!(!text.contains("jwt-secret-value"), "{text}");
        assert!(!text.contains("p4ss"), "{text}");
        assert!(text.contains("auth_basic_username"), "{text}");
        assert!(
            text.contains("redis://:********@localhost:6379/0"),
            "{text}"
        );
    }
}

#[test]
fn conflicts_are_refused_at_configuration_time() {
    let err = Config::from_ini_str("[canister]\nCORS = *\ncors_credentials = true").unwrap_err();
    assert!(
        matches!(&err, ConfigError::Conflict { key, .. } if key == "cors_credentials"),
        "{err}"
    );
    let err = Config::from_ini_str(
        "[canister]\nsession_cookie_samesite = None\nsession_cookie_secure = false",
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("SameSite=None requires a Secure cookie"));
    let err = Config::from_ini_str("[canister]\nauth_basic_username = a\nauth_basic_encryption = sha256\nauth_basic_password = my-secret").unwrap_err();
    assert!(err.to_string().contains("64 hex digits"), "{err}");
    assert!(!err.to_string().contains("my-secret"));
    let err =
        Config::from_ini_str("[canister]\nauth_jwt_client_id = a\nauth_jwt_algorithms = RS256")
            .unwrap_err();
    assert!(err.to_string().contains("auth_jwt_public_key"), "{err}");
    let err = Config::from_ini_str("[canister]\nauth_basic_username = a").unwrap_err();
    assert!(err.to_string().contains("needs both"), "{err}");
}

#[test]
fn environment_overrides_use_canister_prefix() {
    let mut c = Config::from_ini_str("[canister]\nsession_timeout = 10\nCORS = *").unwrap();
    c.apply_env([
        ("CANISTER_SESSION_TIMEOUT".to_owned(), "20".to_owned()),
        ("CANISTER_CORS".to_owned(), "false".to_owned()),
        ("PATH".to_owned(), "/bin".to_owned()),
    ])
    .unwrap();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(20)));
    assert_eq!(c.cors.origins, CorsOrigins::Disabled);
    let err = c
        .apply_env([("CANISTER_CORS".to_owned(), "maybe".to_owned())])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(from environment variable CANISTER_CORS)"),
        "{err}"
    );
}

/// Finding F8: Kubernetes injects `CANISTER_SERVICE_HOST`, `CANISTER_PORT`, … for a Service
/// named `canister`; each stopped start-up as an unknown key. They are now ignored with one
/// warning naming them (never their values); a known key with a bad value is still an error.
#[test]
fn unknown_canister_variables_are_warnings_not_errors() {
    let mut c = Config::default();
    c.apply_env([
        ("CANISTER_SERVICE_HOST", "10.0.0.1"),
        ("CANISTER_SERVICE_PORT", "8080"),
        ("CANISTER_PORT", "tcp://10.0.0.1:8080"),
        ("CANISTER_PORT_8080_TCP_ADDR", "10.0.0.1"),
        ("CANISTER_SESSION_TIMEOUT", "20"),
        ("CANISTER_PORT", "tcp://10.0.0.1:8080"),
    ])
    .unwrap();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(20)));
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "ignored environment variables that name no canister key: CANISTER_PORT, \
             CANISTER_PORT_8080_TCP_ADDR, CANISTER_SERVICE_HOST, CANISTER_SERVICE_PORT ("
        ),
        "{warnings:?}"
    );
    assert!(!warnings[0].contains("10.0.0.1"), "{warnings:?}");
    assert!(!warnings[0].contains("did you mean"), "{warnings:?}");

    // A near miss is still ignored, with the key it probably meant.
    let mut c = Config::default();
    c.apply_env([("CANISTER_SESION_TIMEOUT", "20")]).unwrap();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(3600)));
    assert!(
        c.warnings()[0]
            .ends_with("; did you mean CANISTER_SESSION_TIMEOUT (not CANISTER_SESION_TIMEOUT)?"),
        "{:?}",
        c.warnings()
    );

    // Known keys (aliases too) with bad values stop start-up, as before.
    for (name, value) in [
        ("CANISTER_SESSION_TIMEOUT", "soon"),
        ("CANISTER_SESSION_TIMOUT", "soon"),
        ("CANISTER_LOG_LEVEL", "LOUD"),
    ] {
        let err = Config::default().apply_env([(name, value)]).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { origin, .. } if *origin == format!("environment variable {name}")),
            "{err}"
        );
    }
    // The file's own keys stay strict: an unknown key there is an error.
    assert!(matches!(
        Config::from_ini_str("[canister]\nservice_host = x"),
        Err(ConfigError::UnknownKey { .. })
    ));
}

#[test]
fn builder_style_set_uses_ini_spelling() {
    let mut c = Config::default();
    c.set("session_timout", "5").unwrap();
    c.set("Auth_JWT_Client_Id", "client").unwrap();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(5)));
    assert_eq!(c.auth.jwt.client_id.as_deref(), Some("client"));
}

#[test]
fn defaults_are_canisters() {
    let c = Config::default();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(3600)));
    assert_eq!(c.cookie.name, "session_id");
    assert_eq!(c.log.days, 30);
    assert_eq!(c.log.slow_ms, 1000);
    assert_eq!(c.auth.basic.realm, "private");
    assert!(c.csrf.enabled);
    assert!(!c.auth.remember);
    assert_eq!(c.cookie.same_site, SameSite::Lax);
    assert_eq!(c.cookie.secure, CookieSecure::Auto);
}

#[test]
fn from_file_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canister.ini");
    std::fs::write(&path, README_SAMPLE).unwrap();
    let c = Config::from_file(&path).unwrap();
    assert_eq!(c.auth.basic.username.as_deref(), Some("alice"));
    let err = Config::from_file(dir.path().join("absent.ini")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read configuration file"),
        "{err}"
    );
}

#[test]
fn the_readme_sample_loads() {
    let readme = include_str!("../../../README.md");
    let start = readme.find("```ini\n").unwrap() + "```ini\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let c = Config::from_ini_str(&readme[start..end]).unwrap();
    assert_eq!(c.log.path.as_deref(), Some(Path::new("./logs/")));
    assert_eq!(c.cors.origins, CorsOrigins::Any);
    assert_eq!(c.auth.jwt.client_id.as_deref(), Some("ABC"));
}

// Builds the default sink (canister's lines).
#[cfg(feature = "default-sink")]
#[test]
fn canisters_readme_sample_builds_an_engine() {
    // (log_path dropped so the test writes no ./logs directory)
    let config = Config::from_ini_str(&README_SAMPLE.replace("log_path = ./logs/", "")).unwrap();
    let built = crate::Canister::from_config(config);
    assert!(built.is_ok(), "{:?}", built.err());
}

/// Finding 13: one value just past each bound, one at it. The error names the key, the value
/// as written and the range, and the configuration keeps its previous value.
#[test]
fn numeric_keys_are_bounded_and_errors_name_key_value_and_range() {
    let cases = [
        ("log_days", "36501", "36500"),
        ("log_slow_ms", "86400001", "86400000"),
        ("session_timeout", "1e17", "315360000"),
        ("session_timeout", "315360001", "315360000"),
        ("session_lock_timeout", "1e19", "3600"),
        ("session_lock_timeout", "0.0001", "0.001"),
        ("session_max", "1000000001", "1000000000"),
        ("session_store_timeout", "3600.5", "3600"),
        ("session_store_timeout", "1e-9", "0.001"),
        ("session_store_replicas", "17", "16"),
        ("cors_max_age", "86401", "86400"),
        ("auth_jwt_leeway", "3601", "3600"),
        ("auth_jwt_jwks_refresh", "86401", "86400"),
        ("auth_jwt_jwks_refresh", "9", "10"),
        ("params_body_limit", "1073741825", "1073741824"),
        ("params_body_limit", "0", "1"),
        ("session_max_lifetime", "315360001", "315360000"),
        ("session_remember_timeout", "315360001", "315360000"),
        ("session_max_per_user", "100001", "100000"),
    ];
    for (key, bad, good) in cases {
        let err = Config::from_ini_str(&format!("[canister]\n{key} = {bad}")).unwrap_err();
        let ConfigError::OutOfRange {
            key: k,
            value,
            range,
            origin,
        } = &err
        else {
            panic!("{key} = {bad}: {err}");
        };
        assert_eq!((k.as_str(), value.as_str()), (key, bad));
        assert_eq!(Some(range.as_str()), range_of(key), "{key}");
        assert_eq!(origin, "<string>, line 2");
        assert!(
            err.to_string().starts_with(&format!(
                "value {bad:?} for `{key}` (from <string>, line 2) is out of range: expected "
            )),
            "{err}"
        );
        Config::from_ini_str(&format!("[canister]\n{key} = {good}"))
            .unwrap_or_else(|e| panic!("{key} = {good}: {e}"));
        // `set` refuses it too, and leaves the previous value.
        let mut c = Config::default();
        let before = c.to_string();
        assert!(matches!(
            c.set(key, bad),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert_eq!(c.to_string(), before, "{key}");
    }
    // Every bounded key is covered above.
    for (key, _) in RANGES {
        assert!(cases.iter().any(|(k, _, _)| k == key), "{key} untested");
    }
    // Never-expiring sessions are still written as canister did.
    let c = Config::from_ini_str("[canister]\nsession_timeout = -1e300").unwrap();
    assert_eq!(c.session.timeout, None);
}

/// The bounds hold for fields set in code: `validate`, which the engine's builder runs,
/// refuses them naming the key.
#[test]
fn validate_bounds_fields_set_in_code() {
    type Set = fn(&mut Config);
    let cases: [(&str, Set); 9] = [
        ("log_days", |c| c.log.days = u32::MAX),
        ("log_slow_ms", |c| c.log.slow_ms = u64::MAX),
        ("session_timeout", |c| {
            c.session.timeout = Some(Duration::MAX)
        }),
        ("session_lock_timeout", |c| {
            c.session.lock_timeout = Duration::from_secs(10_000_000_000_000_000_000)
        }),
        ("session_max", |c| c.session.max = Some(usize::MAX)),
        ("session_store_timeout", |c| {
            c.store.timeout = Duration::ZERO
        }),
        ("cors_max_age", |c| c.cors.max_age = Some(u64::MAX)),
        ("auth_jwt_leeway", |c| c.auth.jwt.leeway = u64::MAX),
        ("session_store_replicas", |c| c.store.replicas = 17),
    ];
    for (key, set) in cases {
        let mut c = Config::default();
        set(&mut c);
        let err = c.validate().unwrap_err();
        assert!(
            matches!(&err, ConfigError::OutOfRange { key: k, origin, .. } if k == key && origin == "code"),
            "{key}: {err}"
        );
        let built = crate::Canister::builder().config(c).build();
        assert!(built.is_err(), "{key}: the builder accepted it");
    }
}

/// Finding 14: `std::env::vars()` panicked on any variable that is not Unicode.
#[cfg(unix)]
#[test]
fn non_utf8_environment_is_ignored_unless_it_is_canisters() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    let os = |s: &str| OsString::from(s);
    let bytes = |b: &[u8]| OsString::from_vec(b.to_vec());
    let mut c = Config::default();
    c.apply_env([
        (os("SECREV_BAD"), bytes(b"\xff")),
        (bytes(b"\xffNAME"), os("x")),
        (bytes(b"CANISTEr_\xff"), os("x")),
        (os("CANISTER_SESSION_TIMEOUT"), os("20")),
    ])
    .unwrap();
    assert_eq!(c.session.timeout, Some(Duration::from_secs(20)));

    let err = c
        .apply_env([(os("CANISTER_SESSION_COOKIE"), bytes(b"sid\xff"))])
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::NonUnicodeEnv { variable, part: "value" } if variable == "CANISTER_SESSION_COOKIE"),
        "{err}"
    );
    assert!(err.to_string().contains("CANISTER_SESSION_COOKIE"), "{err}");
    // A name that is not UTF-8 names no key: ignored with a warning, like any unknown one.
    c.apply_env([(bytes(b"CANISTER_LOG\xffDAYS"), os("3"))])
        .unwrap();
    assert_eq!(c.log.days, 30);
    assert!(
        c.warnings()[0].contains("CANISTER_LOG\u{fffd}DAYS"),
        "{:?}",
        c.warnings()
    );
    // An unknown name with a value that is not UTF-8: ignored too.
    c.apply_env([(os("CANISTER_SERVICE_HOST"), bytes(b"\xff"))])
        .unwrap();
    // The process environment itself is read without panicking.
    c.apply_env(std::env::vars_os()).unwrap();
}

#[test]
fn session_max_tells_unset_from_set_and_session_max_bytes_is_bounded() {
    let default = Config::default();
    assert_eq!(default.session.max, None);
    assert_eq!(default.session_cap(), Some(100_000));
    assert_eq!(default.session.max_bytes, 65_536);
    let config =
        Config::from_ini_str("[canister]\nsession_max = 0\nsession_max_bytes = 1024").unwrap();
    assert_eq!(config.session.max, Some(0));
    assert_eq!(config.session_cap(), None);
    assert_eq!(config.session.max_bytes, 1024);
    let config = Config::from_ini_str("[canister]\nsession_max = 100000").unwrap();
    assert_eq!(config.session.max, Some(100_000));
    let mut config = Config::from_ini_str("[canister]").unwrap();
    config.session.max_bytes = 0;
    let error = config.validate().unwrap_err();
    assert!(
        matches!(&error, ConfigError::Conflict { key, .. } if key == "session_max_bytes"),
        "{error:?}"
    );
}

/// Finding F1: the Python sample with `auth_jwt_client_id` (as the README advises) was
/// refused with "jwt secret is not valid base64url: expected url-safe base64 (A-Z, a-z,
/// 0-9, `-` and `_`)": every character of `my-secret` is in that alphabet, the fault is its length;
/// and the error named neither the file nor a fix.
#[test]
fn a_secret_that_does_not_decode_says_why_where_and_how_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("canister.ini");
    let sample = README_SAMPLE.replace("auth_client_id", "auth_jwt_client_id");
    std::fs::write(&path, &sample).unwrap();
    let err = Config::from_file(&path).unwrap_err();
    let ConfigError::Conflict { key, origin, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(key, "auth_jwt_secret");
    let line = 1 + sample
        .lines()
        .position(|l| l.starts_with("auth_jwt_secret"))
        .unwrap();
    let at = format!("{}, line {line}", path.display());
    assert_eq!(origin.as_deref(), Some(at.as_str()));
    let text = err.to_string();
    for part in [
        format!("invalid configuration `auth_jwt_secret` (from {at}): is not valid base64url"),
        "it is 9 characters long".to_owned(),
        "never ends with a single leftover character".to_owned(),
        "If the secret is plain text".to_owned(),
        "set `auth_jwt_encoding = clear`".to_owned(),
        format!(
            "(`auth_jwt_encoding` is from {}, line {})",
            path.display(),
            line - 1
        ),
    ] {
        assert!(text.contains(&part), "{part:?} missing from: {text}");
    }
    assert!(!text.contains("my-secret"), "{text}");
    // The fix the message gives works.
    let fixed = sample.replace("auth_jwt_encoding = base64url", "auth_jwt_encoding = clear");
    std::fs::write(&path, &fixed).unwrap();
    let config = Config::from_file(&path).unwrap();
    assert!(crate::auth::DefaultAuthenticator::from_config(&config)
        .unwrap()
        .jwt()
        .is_some());

    // From the environment: the variable is named.
    let mut config = Config::default();
    config.set("auth_jwt_client_id", "ABC").unwrap();
    config
        .apply_env([
            ("CANISTER_AUTH_JWT_SECRET", "my*secret"),
            ("CANISTER_AUTH_JWT_ENCODING", "base64url"),
        ])
        .unwrap();
    let text = config.validate().unwrap_err().to_string();
    assert!(
        text.starts_with("invalid configuration `auth_jwt_secret` (from environment variable CANISTER_AUTH_JWT_SECRET): ")
            && text.contains("character 3 of 9 is `*`")
            && text.contains("(`auth_jwt_encoding` is from environment variable CANISTER_AUTH_JWT_ENCODING)"),
        "{text}"
    );
    assert!(!text.contains("my*secret"), "{text}");
    // JWT off (no client id): the secret is not used, so not checked, as in canister.
    let config =
        Config::from_ini_str("[canister]\nauth_jwt_encoding = base64url\nauth_jwt_secret = a")
            .unwrap();
    assert!(config.auth.jwt.secret.is_some());
}

/// Finding F1: through `fn main() -> Result<(), Box<dyn Error>>`, the pattern the docs use,
/// a `ConfigError` printed its derived Debug (`Conflict { key: "…", message: "…" }`).
#[test]
fn debug_of_a_config_error_is_its_message() {
    let errors = [
        Config::from_ini_str("[canister]\nCORS = *\ncors_credentials = true").unwrap_err(),
        Config::from_ini_str("[canister]\nsession_timeout = soon").unwrap_err(),
        Config::from_ini_str("[canister]\nnope = 1").unwrap_err(),
        Config::from_ini_str("key = 1").unwrap_err(),
        Config::from_file("/nonexistent/canister.ini").unwrap_err(),
    ];
    for err in errors {
        // Issue #18: Debug is Display followed by the causes (the I/O error of a file that
        // cannot be read), each once; Display no longer repeats them.
        let display = crate::ErrorChain(&err).to_string();
        assert!(display.starts_with(&err.to_string()), "{display}");
        assert_eq!(format!("{err:?}"), display);
        assert_eq!(format!("{err:#?}"), display);
        // What `main` prints: `Error: {:?}` of the boxed error.
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(format!("{boxed:?}"), display);
        assert!(!display.contains(" { "), "{display}");
    }
    let err = Config::from_ini_str("[canister]\nCORS = *\ncors_credentials = true").unwrap_err();
    assert_eq!(
        format!("{err:?}"),
        "invalid configuration `cors_credentials` (from <string>, line 3): credentials cannot \
         be allowed for every origin (CORS = *); list the origins in `CORS` instead"
    );
}

/// Finding F1b: canister's README sample spells the client id `auth_client_id`, which
/// canister never read: JWT was silently off. It still is (the file loads unchanged), with
/// a warning that says so and what to write.
#[test]
fn auth_client_id_is_read_ignored_and_warned_about() {
    let c = Config::from_ini_str(README_SAMPLE).unwrap();
    assert_eq!(c.auth.jwt.client_id, None);
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let line = 1 + README_SAMPLE
        .lines()
        .position(|l| l.starts_with("auth_client_id"))
        .unwrap();
    for part in [
        format!("`auth_client_id` (from <string>, line {line}) is read and ignored"),
        "JWT authentication is off".to_owned(),
        "write `auth_jwt_client_id` instead".to_owned(),
        "`auth_jwt_secret` is not valid base64url".to_owned(),
        "also set `auth_jwt_encoding = clear`".to_owned(),
    ] {
        assert!(
            warnings[0].contains(&part),
            "{part:?} missing: {warnings:?}"
        );
    }
    assert!(!warnings[0].contains("my-secret"), "{warnings:?}");
    // A secret that decodes: only a reminder of the encoding.
    let c = Config::from_ini_str("[canister]\nauth_client_id = ABC\nauth_jwt_secret = s").unwrap();
    assert!(
        c.warnings()[0].contains("check that `auth_jwt_encoding`"),
        "{:?}",
        c.warnings()
    );
    // Both keys: the right one is used, the other named as ignored.
    let c = Config::from_ini_str(
        "[canister]\nauth_client_id = ABC\nauth_jwt_client_id = ABC\nauth_jwt_secret = s",
    )
    .unwrap();
    assert!(
        c.warnings()[0].contains("`auth_jwt_client_id` sets the audience"),
        "{:?}",
        c.warnings()
    );
    // From the environment, too.
    let mut c = Config::default();
    c.apply_env([("CANISTER_AUTH_CLIENT_ID", "ABC")]).unwrap();
    assert!(
        c.warnings()[0].contains("(from environment variable CANISTER_AUTH_CLIENT_ID)"),
        "{:?}",
        c.warnings()
    );
}

/// Issue #21: the store's production settings. Sentinel URLs are accepted, TLS client
/// certificate and key go together, and every password of a cluster or sentinel URL is
/// masked wherever the configuration is printed.
#[test]
fn redis_production_settings() {
    let c = Config::from_ini_str(
        "[canister]\nsession_store = rediss+sentinel://u:pw-one@h1,h2:26380/svc/2\n\
         session_store_tls_ca = ca.pem\nsession_store_tls_cert = c.pem\n\
         session_store_tls_key = c.key\nsession_store_replicas = 2",
    )
    .unwrap();
    assert_eq!(c.store.replicas, 2);
    assert_eq!(c.store.tls_ca.as_deref(), Some(Path::new("ca.pem")));
    let printed = c.to_string();
    assert!(!printed.contains("pw-one"), "{printed}");
    assert!(
        printed.contains("rediss+sentinel://u:********@h1,h2:26380/svc/2"),
        "{printed}"
    );
    assert!(Config::from_ini_str("[canister]\nsession_store = redis+sentinel://h/s").is_ok());
    assert!(Config::from_ini_str("[canister]\nsession_store_replicas = -1").is_err());
    assert!(Config::from_ini_str("[canister]\nsession_store_replicas = two").is_err());
    for (only, missing) in [
        ("session_store_tls_cert", "session_store_tls_key"),
        ("session_store_tls_key", "session_store_tls_cert"),
    ] {
        let err = Config::from_ini_str(&format!("[canister]\n{only} = x.pem")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(only) && text.contains(missing), "{text}");
    }
    // A cluster: each URL's password.
    assert_eq!(
        mask_url("redis://:a1@h1,redis://u:b2@h2"),
        "redis://:********@h1,redis://u:********@h2"
    );
}

#[test]
fn log_sink_and_request_id_keys() {
    let c = Config::default();
    assert_eq!(c.log.sink, LogSinkKind::Canister);
    assert_eq!(c.log.request_id_header, "x-request-id");
    assert!(!c.log.request_id_trust);
    let c = Config::from_ini_str(
        "[canister]\nLOG_SINK = Tracing\nrequest_id_header = X-Correlation-ID\nrequest_id_trust = yes",
    )
    .unwrap();
    assert_eq!(c.log.sink, LogSinkKind::Tracing);
    assert_eq!(c.log.request_id_header, "x-correlation-id");
    assert!(c.log.request_id_trust);
    let entries = c.entries();
    assert!(entries.contains(&("log_sink", "tracing".to_owned())));
    assert!(entries.contains(&("request_id_header", "x-correlation-id".to_owned())));
    for (key, bad) in [
        ("log_sink", "syslog"),
        ("request_id_header", "bad header"),
        ("request_id_header", ""),
        ("request_id_trust", "maybe"),
    ] {
        let err = Config::from_ini_str(&format!("[canister]\n{key} = {bad}")).unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { key: k, .. } if k == key),
            "{key} = {bad}: {err}"
        );
    }
    let mut env = Config::default();
    env.apply_env([("CANISTER_LOG_SINK", "tracing")]).unwrap();
    assert_eq!(env.log.sink, LogSinkKind::Tracing);
}

#[cfg(not(feature = "tracing"))]
#[test]
fn log_sink_tracing_without_the_feature_is_a_clear_error() {
    let config = Config::from_ini_str("[canister]\nlog_sink = tracing").unwrap();
    let err = crate::Canister::from_config(config)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`tracing` feature"), "{err}");
}

/// Without the feature `default-sink`, `log_sink = canister` (the default) is refused rather
/// than silently logging nothing, unless the log is disabled or the builder is given a sink.
#[cfg(not(feature = "default-sink"))]
#[test]
fn log_sink_canister_without_the_default_sink_is_a_clear_error() {
    let err = crate::Canister::from_config(Config::default()).unwrap_err();
    let ConfigError::Conflict { key, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(key, "log_sink");
    let text = err.to_string();
    assert!(text.contains("`default-sink` feature"), "{text}");
    assert!(text.contains("log_level = DISABLED"), "{text}");
    let settings = Config::default().log;
    assert!(matches!(
        crate::log::DefaultLogSink::from_settings(&settings),
        Err(LogError::DefaultSinkUnavailable)
    ));

    // Disabled: nothing to write, so nothing is lost.
    let config = Config::from_ini_str("[canister]\nlog_level = DISABLED").unwrap();
    let canister = crate::Canister::from_config(config).unwrap();
    assert!(!crate::log::LogSink::enabled(
        canister.log_sink(),
        Level::Critical
    ));
    // A sink of the application's own.
    let built = crate::Canister::builder()
        .config(Config::default())
        .log_sink(())
        .build();
    assert!(built.is_ok(), "{:?}", built.err());
}

/// Without the feature `default-sink`, `log_sink = tracing` still builds the tracing sink.
#[cfg(all(feature = "tracing", not(feature = "default-sink")))]
#[test]
fn log_sink_tracing_needs_no_default_sink() {
    let config = Config::from_ini_str("[canister]\nlog_sink = tracing").unwrap();
    let canister = crate::Canister::from_config(config).unwrap();
    assert!(crate::log::LogSink::traces_requests(canister.log_sink()));
}

/// The key table: every printed key reads back what it prints (the banner is valid INI for
/// the same configuration), and every key written once is found by its name.
#[test]
fn every_printed_default_reads_back_to_itself() {
    let defaults = Config::default();
    for (key, shown) in defaults.entries() {
        let info = KEYS.iter().find(|k| k.name == key).unwrap();
        // An unset optional value prints as nothing; `cors_max_age` refuses empty text.
        if shown.is_empty() || info.secret {
            continue;
        }
        let mut c = Config::default();
        c.set(key, &shown)
            .unwrap_or_else(|e| panic!("{key} = {shown}: {e}"));
        let again = c.entries().into_iter().find(|(k, _)| *k == key).unwrap().1;
        assert_eq!(again, shown, "{key}");
    }
    // Every key but `auth_client_id` (read and ignored) is printed, in the table's order.
    let printed: Vec<&str> = defaults.entries().into_iter().map(|(k, _)| k).collect();
    let listed: Vec<&str> = KEYS
        .iter()
        .map(|k| k.name)
        .filter(|k| *k != "auth_client_id")
        .collect();
    assert_eq!(printed, listed);
    // RANGES is the table's ranged keys.
    let ranged: Vec<&str> = KEYS
        .iter()
        .filter(|k| k.range.is_some())
        .map(|k| k.name)
        .collect();
    assert_eq!(RANGES.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ranged);
    // The ten of issue #18's table, params_body_limit, and issue #22's three.
    assert_eq!(RANGES.len(), 14);
}

/// Every key the table marks secret is masked in `entries` (hence the banner, `Debug` and
/// `Display`) and in `InvalidValue`, whatever its value.
#[test]
fn every_secret_key_is_masked_wherever_it_is_printed() {
    let secrets: Vec<&KeyInfo> = KEYS.iter().filter(|k| k.secret).collect();
    assert_eq!(secrets.len(), 5, "{secrets:?}");
    let mut c = Config::default();
    for info in &secrets {
        let value = if info.name == "session_store" {
            "redis://:hunter2@localhost"
        } else {
            "/hunter2"
        };
        c.set(info.name, value).unwrap();
    }
    for text in [format!("{c:?}"), c.to_string()] {
        assert!(!text.contains("hunter2"), "{text}");
    }
    for (key, shown) in c.entries() {
        if secrets.iter().any(|s| s.name == key) {
            assert!(shown.contains("********"), "{key} = {shown}");
        }
    }
    let err = Config::default()
        .set("session_store", "ftp://hunter2")
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// Issue #18: an error's cause is its `source()`, never repeated in its `Display`: a report
/// that prints the chain shows each cause once.
// Builds the default sink (canister's lines).
#[cfg(feature = "default-sink")]
#[test]
fn config_errors_keep_their_cause_as_source_without_repeating_it() {
    use std::error::Error as _;

    let err = Config::from_file("/nonexistent/canister.ini").unwrap_err();
    let io = err.source().unwrap();
    assert!(io.downcast_ref::<std::io::Error>().is_some(), "{io}");
    assert_eq!(
        err.to_string(),
        "cannot read configuration file /nonexistent/canister.ini"
    );
    assert_eq!(format!("{err:?}"), format!("{err}: {io}"));

    // A log directory that cannot be created: ConfigError::Log, its LogError, its io::Error.
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "x").unwrap();
    let mut config = Config::default();
    config
        .set("log_path", &blocker.join("logs").display().to_string())
        .unwrap();
    let err = crate::Canister::from_config(config).unwrap_err();
    let ConfigError::Log {
        key: "log_path",
        origin: Some(origin),
        source,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(origin, "code");
    assert!(matches!(source, LogError::Directory { .. }), "{source}");
    let io = source.source().unwrap();
    assert!(io.downcast_ref::<std::io::Error>().is_some(), "{io}");
    assert_eq!(
        err.to_string(),
        "invalid configuration `log_path` (from code): the log cannot use it"
    );
    assert!(!source.to_string().contains(&io.to_string()), "{source}");
    assert!(source.to_string().contains("a-file"), "{source}");
    let report = format!("{err:?}");
    assert_eq!(report, format!("{err}: {source}: {io}"));
    assert_eq!(report.matches(&io.to_string()).count(), 1, "{report}");
}

/// Issue #22's keys: defaults, and bad values named.
#[test]
fn lifecycle_keys_defaults_and_bad_values() {
    let c = Config::default();
    assert!(!c.cookie.persistent, "browser-session cookies by default");
    assert!(!c.cookie.partitioned);
    assert_eq!(c.session.max_lifetime, None);
    assert_eq!(
        c.session.remember_timeout,
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(c.session.max_per_user, 0);
    let c = Config::from_ini_str("[canister]\nsession_max_lifetime = 0").unwrap();
    assert_eq!(c.session.max_lifetime, None);
    let err = Config::from_ini_str("[canister]\nsession_max_lifetime = -5").unwrap_err();
    assert!(err.to_string().contains("session_max_lifetime"), "{err}");
}
