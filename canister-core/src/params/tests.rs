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
    let json = HeaderValue::from_static("application/json");
    let map = ParamMap::from_parts(
        Some("foo=a"),
        Some(&json),
        Bytes::from_static(b"{\"foo\":1}"),
    )
    .await
    .unwrap();
    assert_eq!(map.get("foo"), Some("a"));
}

#[test]
fn debug_shows_names_not_values() {
    let map = ParamMap::from_query(Some("password=hunter2")).unwrap();
    assert!(!format!("{map:?}").contains("hunter2"));
}
