//! Problems found while fuzzing canister-core (see `HARDENING.md`, "Fuzzing"), kept as tests.
//!
//! Inputs the fuzz targets stopped on are replayed by `tests/fuzz_corpus.rs` (files named
//! `regression-*` in `fuzz/corpus/<target>/`); this file holds what does not fit a target's
//! input, such as inputs too large for libFuzzer's 4 KB.

use bytes::Bytes;
use canister_core::params::{ParamMap, ParamsError, MAX_PAIRS};
use futures_util::FutureExt;
use http::HeaderValue;

/// Merging the query's parameters with the body's compared every query name with every body
/// name (`retain` + `any`): with 4 000 query names and a 2 MB form of 1 M names, one request
/// cost seconds of CPU on the runtime's thread (13 s measured in release). The merge now uses
/// a set of the body's names, and since `MAX_PAIRS` such a request is refused before any
/// merge. This checks the merge's result at the largest input accepted (no timing
/// assertion): body values replace the query's for the same name, other query pairs stay;
/// and the original input is refused.
#[test]
fn query_and_body_merge_on_large_inputs() {
    let form = HeaderValue::from_static("application/x-www-form-urlencoded");
    let decode = |query: &str, body: Bytes| {
        ParamMap::from_parts(Some(query), Some(&form), body)
            .now_or_never()
            .expect("no await point")
    };
    let query = |names: usize| {
        (0..names)
            .map(|i| format!("q{i}=query"))
            .chain(["b=query".to_owned()])
            .collect::<Vec<_>>()
            .join("&")
    };
    let map = decode(&query(500), Bytes::from("b=body&".repeat(499))).expect("valid form");
    assert_eq!(map.pairs().len(), MAX_PAIRS - 1);
    assert_eq!(map.get("q499"), Some("query"));
    assert!(map.get_all("b").all(|v| v == "body"));
    assert_eq!(map.get_all("b").count(), 499);

    let err =
        decode(&query(2_000), Bytes::from("b=body&".repeat(100_000))).expect_err("past MAX_PAIRS");
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });
}
