//! libFuzzer entry of the `config` target; the body is in `src/config.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("config", data));
