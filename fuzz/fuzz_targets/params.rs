//! libFuzzer entry of the `params` target; the body is in `src/params.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("params", data));
