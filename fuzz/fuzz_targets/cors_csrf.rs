//! libFuzzer entry of the `cors_csrf` target; the body is in `src/cors_csrf.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("cors_csrf", data));
