//! The parts of canister's cost per request that buy a guarantee a hand-written session
//! server (bench's `minimal_axum`) does not give, each measured on its own (issue #24,
//! item 2). BENCHMARKS.md lists them beside the end-to-end figures.
//!
//! - `sha256_of_id`: sessions are stored under the SHA-256 of their id, so a store's keys
//!   (a Redis dump, a memory snapshot) do not hand out live session ids. Once per request
//!   that carries a session cookie.
//! - `clock_read`: expiry. A loaded session's deadline is checked against the clock, and a
//!   saved one gets a new deadline (sliding expiry).
//! - `request_id_header`: every response carries a request id (issue #19), made from a
//!   per-process prefix and a counter, written as a header value.
//! - `new_session_id`: 256 bits from the operating system's generator, base64url: only when
//!   a session is created, not on the loaded path the end-to-end figures measure.

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use canister_core::log::RequestId;
use canister_core::{Clock, SystemClock};
use criterion::{criterion_group, criterion_main, Criterion};
use sha2::{Digest, Sha256};

fn bench_guarantees(c: &mut Criterion) {
    let mut group = c.benchmark_group("guarantees");
    let id = "Kq3xZp7aVb2Lm9Qw4Er6Ty8Ui0Op1As3Df5Gh7Jk9Lz";
    assert_eq!(id.len(), 43);
    group.bench_function("sha256_of_id", |b| {
        b.iter(|| Sha256::digest(black_box(id.as_bytes())))
    });
    group.bench_function("clock_read", |b| b.iter(|| black_box(SystemClock).now()));
    group.bench_function("request_id_header", |b| {
        b.iter(|| RequestId::generate().to_header_value())
    });
    group.bench_function("new_session_id", |b| {
        b.iter(|| {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).expect("the OS generator");
            let mut text = [0u8; 43];
            let written = URL_SAFE_NO_PAD.encode_slice(bytes, &mut text);
            (written, text)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_guarantees);
criterion_main!(benches);
