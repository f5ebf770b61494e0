//! libFuzzer entry of the `jwt` target; the body is in `src/jwt.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("jwt", data));
