//! The bodies of canister's fuzz targets, one function per target taking the fuzzer's bytes.
//!
//! `fuzz_targets/<name>.rs` calls [`run`] with its name under libFuzzer (`cargo +nightly fuzz
//! run <name>`); canister-core's `tests/fuzz_corpus.rs` compiles this same file as a module
//! and replays every file of `fuzz/corpus/<name>/` through it with plain `cargo test` on
//! stable. So this code may use only canister-core's public API and crates canister-core
//! itself depends on.
//!
//! Each body drives canister's real code with the input and checks properties of the answer
//! (besides "does not panic"): a failed check panics, which libFuzzer reports as a crash.
//! Inputs `http` refuses to build (invalid header values, URIs, methods) are skipped: no
//! adapter can hand them to canister. Every future is driven by [`common::block_on`], a
//! minimal executor: with the memory store nothing ever waits.
//!
//! See `HARDENING.md` at the repository root for the commands and the figures.
#![forbid(unsafe_code)]

#[path = "common.rs"]
pub mod common;

#[path = "authorization.rs"]
mod authorization;
#[path = "config.rs"]
mod config;
#[path = "cookie.rs"]
mod cookie;
#[path = "cors_csrf.rs"]
mod cors_csrf;
#[path = "engine.rs"]
mod engine;
#[path = "jwt.rs"]
mod jwt;
#[path = "params.rs"]
mod params;

/// The body of a target: the fuzzer's bytes in, a panic for a failure.
pub type Body = fn(&[u8]);

/// Every target: its name (the `fuzz_targets/<name>.rs` binary and the `corpus/<name>`
/// directory) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("cookie", cookie::run),
    ("authorization", authorization::run),
    ("jwt", jwt::run),
    ("params", params::run),
    ("config", config::run),
    ("cors_csrf", cors_csrf::run),
    ("engine", engine::run),
];

/// Runs the target called `name` on `data`.
///
/// # Panics
///
/// When `name` is not in [`TARGETS`], or when the target finds a failure.
pub fn run(name: &str, data: &[u8]) {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => body(data),
        None => panic!("no fuzz target called {name:?}"),
    }
}
