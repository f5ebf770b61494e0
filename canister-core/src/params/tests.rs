#![allow(clippy::unwrap_used, reason = "tests")]

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize, PartialEq)]
struct Hi {
    foo: String,
    bar: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Typed {
    n: i64,
    flag: bool,
    #[serde(default)]
    tags: String,
}

fn form() -> Option<HeaderValue> {
    Some(HeaderValue::from_static(
        "application/x-www-form-urlencoded; charset=UTF-8",
    ))
}

#[tokio::test]
async fn query_decodes_into_a_typed_struct() {
    let map = ParamMap::from_query(Some("foo=John&bar=Smith")).unwrap();
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!(
        hi,
        Hi {
            foo: "John".into(),
            bar: Some("Smith".into())
        }
    );
    let hi: Hi = ParamMap::from_query(Some("foo=J%C3%B6rg+K"))
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!(hi.foo, "Jörg K");
    assert_eq!(hi.bar, None);
}

#[tokio::test]
async fn missing_field_names_the_parameter() {
    let err = ParamMap::from_query(Some("bar=x"))
        .unwrap()
        .deserialize::<Hi>()
        .unwrap_err();
    assert_eq!(err, ParamsError::Missing("foo".into()));
    assert_eq!(err.to_string(), "missing parameter 'foo'");
    let err = ParamMap::from_query(None)
        .unwrap()
        .deserialize::<Hi>()
        .unwrap_err();
    assert_eq!(err.to_string(), "missing parameter 'foo'");
}

#[tokio::test]
async fn typed_values_parse_and_bad_ones_are_invalid() {
    let t: Typed = ParamMap::from_query(Some("n=-4&flag=true"))
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!(
        t,
        Typed {
            n: -4,
            flag: true,
            tags: String::new()
        }
    );
    let err = ParamMap::from_query(Some("n=four&flag=true"))
        .unwrap()
        .deserialize::<Typed>()
        .unwrap_err();
    assert_eq!(
        err,
        ParamsError::InvalidValue {
            name: "n".to_owned(),
            reason: "invalid digit found in string".to_owned()
        }
    );
    assert_eq!(
        err.to_string(),
        "invalid parameter 'n': invalid digit found in string"
    );
    let err = ParamMap::from_query(Some("n=1&flag=maybe"))
        .unwrap()
        .deserialize::<Typed>()
        .unwrap_err();
    assert!(
        matches!(&err, ParamsError::InvalidValue { name, .. } if name == "flag"),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_encodings_are_errors_not_replacements() {
    for q in ["foo=%zz", "foo=%4", "foo=%", "foo=%ff%fe", "%c3=x"] {
        let err = ParamMap::from_query(Some(q)).unwrap_err();
        assert!(matches!(err, ParamsError::Malformed(_)), "{q}: {err:?}");
    }
    let err = ParamMap::from_parts(None, form().as_ref(), Bytes::from_static(b"foo=\xff"))
        .await
        .unwrap_err();
    assert!(matches!(err, ParamsError::Malformed(_)));
}

#[tokio::test]
async fn form_body_wins_over_query() {
    let map = ParamMap::from_parts(
        Some("foo=query&bar=q"),
        form().as_ref(),
        Bytes::from_static(b"foo=body"),
    )
    .await
    .unwrap();
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!(
        hi,
        Hi {
            foo: "body".into(),
            bar: Some("q".into())
        }
    );
    assert_eq!(map.get_all("foo").collect::<Vec<_>>(), ["body"]);
}

#[tokio::test]
async fn multipart_text_fields_are_read_and_files_skipped() {
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nJohn\r\n--XyZ\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--XyZ\r\nContent-Disposition: form-data; name=\"bar\"\r\n\r\nSmith\r\n--XyZ--\r\n";
    let ct = HeaderValue::from_static("multipart/form-data; boundary=XyZ");
    let map = ParamMap::from_parts(None, Some(&ct), Bytes::from(body))
        .await
        .unwrap();
    assert_eq!(map.get("upload"), None);
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!(
        hi,
        Hi {
            foo: "John".into(),
            bar: Some("Smith".into())
        }
    );
}

#[tokio::test]
async fn garbage_multipart_is_malformed_not_a_panic() {
    let ct = HeaderValue::from_static("multipart/form-data; boundary=XyZ");
    for body in [
        &b"garbage"[..],
        b"--XyZ\r\nno headers",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\xfe\r\n--XyZ--\r\n",
    ] {
        let err = ParamMap::from_parts(None, Some(&ct), Bytes::copy_from_slice(body))
            .await
            .unwrap_err();
        assert!(matches!(err, ParamsError::Malformed(_)), "{err:?}");
    }
    let no_boundary = HeaderValue::from_static("multipart/form-data");
    assert!(ParamMap::from_parts(None, Some(&no_boundary), Bytes::new())
        .await
        .is_err());
}

#[tokio::test]
async fn other_bodies_are_ignored() {
    let text = HeaderValue::from_static("text/plain");
    let map = ParamMap::from_parts(Some("foo=a"), Some(&text), Bytes::from_static(b"foo=b"))
        .await
        .unwrap();
    assert_eq!(map.get("foo"), Some("a"));
}

fn json() -> Option<HeaderValue> {
    Some(HeaderValue::from_static("application/json; charset=utf-8"))
}

async fn from_json(query: Option<&str>, body: &str) -> Result<ParamMap, ParamsError> {
    ParamMap::from_parts(query, json().as_ref(), Bytes::from(body.to_owned())).await
}

/// Issue #17 (F11): `{"foo":"x"}` used to be ignored, and `Params` answered 400 `missing
/// parameter 'foo'`. A JSON object's members are parameters, merged with the query as a
/// form's fields are.
#[tokio::test]
async fn json_object_members_are_parameters() {
    let hi: Hi = from_json(None, r#"{"foo":"x"}"#)
        .await
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!(hi.foo, "x");
    assert_eq!(hi.bar, None);

    // The body wins over the query; `null` is absent; scalars are their JSON text.
    let map = from_json(
        Some("foo=q&bar=y&n=0"),
        r#" {"foo": "b\u00e9", "bar": null, "n": 42, "flag": true, "x": -1.5, "tags": ["a", 2, null]} "#,
    )
    .await
    .unwrap();
    assert_eq!(map.get("foo"), Some("bé"));
    assert_eq!(map.get("bar"), Some("y"));
    assert_eq!(map.get("n"), Some("42"));
    assert_eq!(map.get("x"), Some("-1.5"));
    assert_eq!(map.get_all("tags").collect::<Vec<_>>(), ["a", "2"]);
    let typed: Typed = map.deserialize().unwrap();
    assert_eq!(typed.n, 42);
    assert!(typed.flag);

    // `application/…+json` too; an empty body carries nothing.
    let patch = HeaderValue::from_static("application/merge-patch+json");
    let map = ParamMap::from_parts(None, Some(&patch), Bytes::from_static(b"{\"foo\":\"p\"}"))
        .await
        .unwrap();
    assert_eq!(map.get("foo"), Some("p"));
    assert!(from_json(Some("a=1"), "  ").await.unwrap().get("a") == Some("1"));
}

#[tokio::test]
async fn json_that_is_not_a_flat_object_is_a_400_saying_so() {
    for (body, says) in [
        (r#"{"foo": {"x": 1}}"#, "parameter 'foo'"),
        (r#"{"foo": [[1]]}"#, "in an array"),
        (r#"{"foo": [{"x": 1}]}"#, "in an array"),
        (r#"["foo"]"#, "a JSON object of parameters"),
        (r#""foo""#, "a JSON object of parameters"),
        (r#"{"foo": "x"} trailing"#, "trailing characters"),
        (r#"{"foo": "x""#, "EOF"),
        ("{\"foo\": \"\\ud800\"}", "escape"),
        (
            &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            "object",
        ),
        (&format!("{{\"a\":{}", "[".repeat(10_000)), "in an array"),
    ] {
        let err = from_json(None, body).await.unwrap_err();
        let ParamsError::Malformed(message) = &err else {
            panic!("{body:.40}: {err:?}");
        };
        assert!(message.starts_with("JSON body: "), "{message}");
        assert!(message.contains(says), "{body:.40}: {message}");
    }
}

#[tokio::test]
async fn json_members_count_against_max_pairs() {
    let members: Vec<String> = (0..MAX_PAIRS).map(|i| format!("\"k{i}\": 1")).collect();
    let at_limit = format!("{{{}}}", members.join(","));
    assert_eq!(
        from_json(None, &at_limit).await.unwrap().pairs().len(),
        MAX_PAIRS
    );
    let err = from_json(Some("q=1"), &at_limit).await.unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });
    // Array elements count one each.
    let array = format!("{{\"a\": [{}]}}", vec!["1"; MAX_PAIRS + 1].join(","));
    let err = from_json(None, &array).await.unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });
}

#[test]
fn debug_shows_names_not_values() {
    let map = ParamMap::from_query(Some("password=hunter2")).unwrap();
    assert!(!format!("{map:?}").contains("hunter2"));
}

/// Finding 22: a repeated name answered 400 "duplicate field"; its last value wins, as in
/// bottle, in the query, in the form, and across the two.
#[tokio::test]
async fn the_last_value_of_a_repeated_name_wins() {
    let map = ParamMap::from_query(Some("foo=a&bar=x&foo=b")).unwrap();
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!((hi.foo.as_str(), hi.bar.as_deref()), ("b", Some("x")));
    assert_eq!(map.get_all("foo").collect::<Vec<_>>(), ["a", "b"]);

    let map = ParamMap::from_parts(
        Some("bar=q"),
        form().as_ref(),
        Bytes::from_static(b"foo=a&foo=b&bar=x&bar=y"),
    )
    .await
    .unwrap();
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!((hi.foo.as_str(), hi.bar.as_deref()), ("b", Some("y")));

    // The body still replaces every query value of the same name.
    let map = ParamMap::from_parts(
        Some("foo=q1&foo=q2&bar=q"),
        form().as_ref(),
        Bytes::from_static(b"foo=b1&foo=b2"),
    )
    .await
    .unwrap();
    let hi: Hi = map.deserialize().unwrap();
    assert_eq!((hi.foo.as_str(), hi.bar.as_deref()), ("b2", Some("q")));

    // A value of the wrong type is still named, even repeated.
    let err = ParamMap::from_query(Some("n=1&n=four&flag=true"))
        .unwrap()
        .deserialize::<Typed>()
        .unwrap_err();
    assert!(
        matches!(&err, ParamsError::InvalidValue { name, .. } if name == "n"),
        "{err:?}"
    );
}

/// Finding 9: `a&a&a&…` cost ten times its size in memory; more than `MAX_PAIRS` pairs are
/// refused before any is decoded.
#[tokio::test]
async fn more_than_max_pairs_is_refused_naming_the_limit() {
    let at_limit = vec!["a"; MAX_PAIRS].join("&");
    assert_eq!(
        ParamMap::from_query(Some(&at_limit)).unwrap().pairs().len(),
        MAX_PAIRS
    );
    // Empty pieces do not count.
    let sparse = format!("{at_limit}&&&&");
    assert!(ParamMap::from_query(Some(&sparse)).is_ok());

    let over = format!("{at_limit}&a");
    let err = ParamMap::from_query(Some(&over)).unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });
    assert_eq!(
        err.to_string(),
        "too many parameters: at most 1000 are accepted, query and body together"
    );

    // The body's limit counts the query's pairs.
    let body = Bytes::from(vec!["b=1"; MAX_PAIRS - 1].join("&"));
    assert!(
        ParamMap::from_parts(Some("q=1"), form().as_ref(), body.clone())
            .await
            .is_ok()
    );
    let err = ParamMap::from_parts(Some("q=1&r=2"), form().as_ref(), body)
        .await
        .unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });

    // A 2 MB flood is refused too (it used to cost about 20 MiB).
    let flood = Bytes::from("a&".repeat(1 << 20));
    let err = ParamMap::from_parts(None, form().as_ref(), flood)
        .await
        .unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });

    // Multipart text fields count as well.
    let part = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
    let body = format!("{}--XyZ--\r\n", part.repeat(MAX_PAIRS + 1));
    let ct = HeaderValue::from_static("multipart/form-data; boundary=XyZ");
    let err = ParamMap::from_parts(None, Some(&ct), Bytes::from(body))
        .await
        .unwrap_err();
    assert_eq!(err, ParamsError::TooMany { limit: MAX_PAIRS });
}
