//! libFuzzer entry of the `authorization` target; the body is in `src/authorization.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("authorization", data));
