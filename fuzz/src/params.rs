//! `params`: the query, url-encoded form and multipart decoder ([`ParamMap`]).
//!
//! Input: `<query>\n<content-type>\n<body>`; an empty first line is no query, an empty or
//! invalid second line no content type. Seeds carry url-encoded and multipart bodies.
//!
//! Checked: decoding the query alone, the body alone and both agree (the body's keys replace
//! the query's, an error in either is an error of both); a decoded query survives a round trip
//! through `serde_urlencoded`'s encoder; `get` and `get_all` agree with `pairs`; typed
//! deserialization never panics.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use canister_core::params::{ParamMap, ParamsError, MAX_PAIRS};
use http::HeaderValue;
use serde::Deserialize;

use super::common::{block_on, split_once};

/// A typical handler's parameters: every field optional, of several types.
#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "only decoded")]
struct Typed {
    name: Option<String>,
    page: Option<u32>,
    offset: Option<i64>,
    ratio: Option<f64>,
    flag: Option<bool>,
    #[serde(default)]
    tag: String,
}

/// A handler's parameters with a mandatory field.
#[derive(Debug, Deserialize)]
#[allow(dead_code, reason = "only decoded")]
struct Mandatory {
    id: u64,
}

/// Names checked by [`check_lookups`] (each check scans every pair).
const CHECKED: usize = 32;

fn check_lookups(map: &ParamMap) {
    for (name, value) in map.pairs().iter().take(CHECKED) {
        let first = map.pairs().iter().find(|(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(map.get(name), first.map(String::as_str), "get disagrees");
        let all: Vec<&str> = map.get_all(name).collect();
        assert!(all.contains(&value.as_str()), "get_all misses a value");
        assert_eq!(
            all.len(),
            map.pairs().iter().filter(|(n, _)| n == name).count(),
            "get_all count"
        );
    }
    let _ = map.deserialize::<Typed>();
    let _ = map.deserialize::<Mandatory>();
    let _ = map.deserialize::<HashMap<String, String>>();
    let _ = map.deserialize::<Vec<(String, String)>>();
    let _ = format!("{map:?}");
}

/// The target.
pub(crate) fn run(data: &[u8]) {
    let (query, rest) = split_once(data, b"\n");
    let (content_type, body) = split_once(rest.unwrap_or_default(), b"\n");
    let query = String::from_utf8_lossy(query);
    let query = (!query.is_empty()).then_some(&*query);
    let content_type = HeaderValue::from_bytes(content_type)
        .ok()
        .filter(|c| !c.is_empty());
    let body = Bytes::copy_from_slice(body.unwrap_or_default());

    let from_query = ParamMap::from_query(query);
    let body_only = block_on(ParamMap::from_parts(
        None,
        content_type.as_ref(),
        body.clone(),
    ));
    let both = block_on(ParamMap::from_parts(query, content_type.as_ref(), body));

    match (&from_query, &body_only) {
        (Ok(query_map), Ok(body_map))
            if query_map.pairs().len() + body_map.pairs().len() > MAX_PAIRS =>
        {
            assert_eq!(
                both,
                Err(ParamsError::TooMany { limit: MAX_PAIRS }),
                "more than MAX_PAIRS together"
            );
        }
        (Ok(query_map), Ok(body_map)) => {
            let Ok(both) = &both else {
                panic!("query and body decode alone but not together: {both:?}");
            };
            let body_keys: HashSet<&str> =
                body_map.pairs().iter().map(|(k, _)| k.as_str()).collect();
            let mut merged: Vec<(String, String)> = query_map
                .pairs()
                .iter()
                .filter(|(k, _)| !body_keys.contains(k.as_str()))
                .cloned()
                .collect();
            merged.extend(body_map.pairs().iter().cloned());
            assert_eq!(
                both.pairs(),
                &merged[..],
                "body keys must replace query keys"
            );
            check_lookups(both);
            check_lookups(body_map);
        }
        (Err(_), _) | (_, Err(_)) => {
            assert!(both.is_err(), "an undecodable part decoded together");
        }
    }

    if let Ok(map) = &from_query {
        let encoded = match serde_urlencoded::to_string(map.pairs()) {
            Ok(encoded) => encoded,
            Err(error) => panic!("encoding decoded pairs: {error}"),
        };
        match ParamMap::from_query(Some(&encoded)) {
            Ok(again) => assert_eq!(again.pairs(), map.pairs(), "query round trip"),
            Err(error) => panic!("re-encoded query refused: {error}"),
        }
        check_lookups(map);
    }
}
