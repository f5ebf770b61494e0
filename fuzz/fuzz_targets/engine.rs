//! libFuzzer entry of the `engine` target; the body is in `src/engine.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| canister_fuzz::run("engine", data));
