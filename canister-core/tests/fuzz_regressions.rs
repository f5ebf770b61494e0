//! Problems found while fuzzing canister-core (see `HARDENING.md`, "Fuzzing"), kept as tests.
//!
//! Inputs the fuzz targets stopped on are replayed by `tests/fuzz_corpus.rs` (files named
//! `regression-*` in `fuzz/corpus/<target>/`); this file holds what does not fit a target's
//! input, such as inputs too large for libFuzzer's 4 KB.

use std::time::{Duration, Instant};

use bytes::Bytes;
use canister_core::params::ParamMap;
use futures_util::FutureExt;
use http::HeaderValue;

/// Decodes `query` and a url-encoded `body` together, and the body alone; returns both times.
fn merge_times(query: &str, body: &Bytes) -> (Duration, Duration) {
    let form = HeaderValue::from_static("application/x-www-form-urlencoded");
    let started = Instant::now();
    let both = ParamMap::from_parts(Some(query), Some(&form), body.clone())
        .now_or_never()
        .expect("no await point")
        .expect("valid form");
    let together = started.elapsed();
    let started = Instant::now();
    let alone = ParamMap::from_parts(None, Some(&form), body.clone())
        .now_or_never()
        .expect("no await point")
        .expect("valid form");
    let body_alone = started.elapsed();
    assert_eq!(
        both.pairs().len(),
        alone.pairs().len() + query.split('&').count()
    );
    (together, body_alone)
}

/// Merging the query's parameters with the body's compares every query key with every body
/// key (`retain` + `any`): with 4 000 query keys and a 2 MB form of 1 M keys, one request
/// costs seconds of CPU on the runtime's thread (13 s measured in release). Decoding the query
/// next to the body should cost about as much as decoding the body alone.
#[test]
#[ignore = "quadratic query/body merge in ParamMap::from_parts, reported in #11"]
fn query_and_body_merge_in_linear_time() {
    let query: String = (0..2_000)
        .map(|i| format!("q{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let body = Bytes::from("b&".repeat(100_000));
    let (together, alone) = merge_times(&query, &body);
    assert!(
        together < alone * 4 + Duration::from_millis(50),
        "query + body took {together:?}, the body alone {alone:?}"
    );
}
