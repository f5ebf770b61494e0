//! The stored format: field names, encoding and decoding of one session hash.

use canister_core::auth::User;
use canister_core::session::{Change, Record, StoreError, StoreKey};

/// The format version written to [`VERSION_FIELD`].
pub(crate) const VERSION: &str = "1";
/// Field holding the format version; always present, so an empty session still exists.
pub(crate) const VERSION_FIELD: &str = "v";
/// Field holding the logged-in user as JSON; absent when nobody is logged in.
pub(crate) const USER_FIELD: &str = "u";
/// Field holding [`Meta::created_ms`](canister_core::session::Meta::created_ms) (decimal);
/// absent when unknown.
pub(crate) const CREATED_FIELD: &str = "c";
/// Field holding [`Meta::remember_ms`](canister_core::session::Meta::remember_ms) (decimal):
/// the remembered login's own time to live, which `LOAD` refreshes the session to.
pub(crate) const REMEMBER_FIELD: &str = "r";
/// Field naming the Redis key of the index of the session's user (single node and Sentinel).
pub(crate) const INDEX_FIELD: &str = "x";
/// Prefix of the fields holding data keys.
pub(crate) const DATA_PREFIX: &str = "d:";

/// Arguments after the time to live for `CREATE` and `CYCLE`: every field of `record` as
/// field/value pairs, the version first.
pub(crate) fn record_pairs(record: &Record) -> Result<Vec<String>, StoreError> {
    let mut args = Vec::with_capacity(4 + 2 * record.data.len());
    args.push(VERSION_FIELD.to_owned());
    args.push(VERSION.to_owned());
    if let Some(user) = &record.user {
        args.push(USER_FIELD.to_owned());
        args.push(encode_user(user)?);
    }
    if let Some(created) = record.meta.created_ms {
        args.push(CREATED_FIELD.to_owned());
        args.push(created.to_string());
    }
    if let Some(remember) = record.meta.remember_ms {
        args.push(REMEMBER_FIELD.to_owned());
        args.push(remember.to_string());
    }
    for (key, value) in &record.data {
        args.push(data_field(key));
        args.push(value.to_string());
    }
    Ok(args)
}

/// Arguments after the time to live for `SAVE`: the cleared flag, the number of fields to
/// delete, those fields, then the field/value pairs to write.
pub(crate) fn change_args(change: &Change) -> Result<Vec<String>, StoreError> {
    let mut deleted: Vec<String> = change.removed.iter().map(|k| data_field(k)).collect();
    let mut pairs = Vec::with_capacity(2 * change.set.len() + 2);
    for (key, value) in &change.set {
        pairs.push(data_field(key));
        pairs.push(value.to_string());
    }
    match &change.user {
        None => {}
        Some(None) => deleted.push(USER_FIELD.to_owned()),
        Some(Some(user)) => {
            pairs.push(USER_FIELD.to_owned());
            pairs.push(encode_user(user)?);
        }
    }
    let mut args = Vec::with_capacity(2 + deleted.len() + pairs.len());
    args.push(if change.cleared { "1" } else { "0" }.to_owned());
    args.push(deleted.len().to_string());
    args.extend(deleted);
    args.extend(pairs);
    Ok(args)
}

/// Decodes a flat field/value array as returned by `HGETALL`.
pub(crate) fn decode(flat: Vec<Vec<u8>>) -> Result<Record, StoreError> {
    if !flat.len().is_multiple_of(2) {
        return Err(StoreError::Corrupt(format!(
            "expected field/value pairs, got {} items",
            flat.len()
        )));
    }
    let mut record = Record::default();
    let mut version = None;
    let mut items = flat.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        let name = String::from_utf8(name)
            .map_err(|_| StoreError::Corrupt("a field name is not UTF-8".to_owned()))?;
        if name == VERSION_FIELD {
            version = Some(String::from_utf8_lossy(&value).into_owned());
        } else if name == USER_FIELD {
            let user: User = serde_json::from_slice(&value)
                .map_err(|e| StoreError::Corrupt(format!("field {USER_FIELD:?}: {e}")))?;
            record.user = Some(user);
        } else if name == CREATED_FIELD || name == REMEMBER_FIELD {
            let ms: u64 = std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| StoreError::Corrupt(format!("field {name:?}: not a number")))?;
            if name == CREATED_FIELD {
                record.meta.created_ms = Some(ms);
            } else {
                record.meta.remember_ms = Some(ms);
            }
        } else if let Some(key) = name.strip_prefix(DATA_PREFIX) {
            let value = serde_json::from_slice(&value)
                .map_err(|e| StoreError::Corrupt(format!("field {name:?}: {e}")))?;
            record.data.insert(key.to_owned(), value);
        }
        // Other fields are ignored: a later version may add metadata that old readers skip.
    }
    match version {
        Some(v) if v == VERSION => Ok(record),
        Some(v) => Err(StoreError::Corrupt(format!(
            "format version {v:?} in field {VERSION_FIELD:?}: expected {VERSION:?}"
        ))),
        None => Err(StoreError::Corrupt(format!(
            "no format version field {VERSION_FIELD:?}: not a canister session"
        ))),
    }
}

/// A store key from its 64 lowercase hex digits.
pub(crate) fn key_from_hex(hex: &str) -> Option<StoreKey> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(StoreKey::from_bytes(bytes))
}

fn data_field(key: &str) -> String {
    format!("{DATA_PREFIX}{key}")
}

fn encode_user(user: &User) -> Result<String, StoreError> {
    serde_json::to_string(user).map_err(|e| StoreError::Corrupt(format!("cannot encode user: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    fn to_flat(args: &[String]) -> Vec<Vec<u8>> {
        args.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn record_round_trips() {
        let mut record = Record::default();
        record.data.insert("counter".into(), json!(3));
        record.data.insert("v".into(), json!({"nested": [1, "x"]}));
        record.user = Some(User::new("alice"));
        record.meta.created_ms = Some(1_700_000_000_123);
        record.meta.remember_ms = Some(2_592_000_000);
        let pairs = record_pairs(&record).unwrap();
        assert_eq!(decode(to_flat(&pairs)).unwrap(), record);
    }

    #[test]
    fn empty_record_still_has_a_field() {
        let pairs = record_pairs(&Record::default()).unwrap();
        assert_eq!(pairs, ["v", "1"]);
        assert_eq!(decode(to_flat(&pairs)).unwrap(), Record::default());
    }

    #[test]
    fn change_args_layout() {
        let change = Change {
            cleared: true,
            set: vec![("a".into(), json!("x"))],
            removed: vec!["b".into()],
            user: Some(None),
        };
        assert_eq!(
            change_args(&change).unwrap(),
            ["1", "2", "d:b", "u", "d:a", "\"x\""]
        );
    }

    #[test]
    fn unknown_version_is_corrupt() {
        let flat = to_flat(&["v".into(), "9".into()]);
        assert!(matches!(decode(flat), Err(StoreError::Corrupt(_))));
        let flat = to_flat(&["d:a".into(), "1".into()]);
        assert!(matches!(decode(flat), Err(StoreError::Corrupt(_))));
    }
}
