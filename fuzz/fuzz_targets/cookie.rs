//! libFuzzer entry of the `cookie` target; the body is in `src/cookie.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("cookie", data));
