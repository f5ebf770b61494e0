//! JSON bodies as parameters: the members of one flat object (see the module docs).
//!
//! Read in one pass with serde visitors straight into name/value pairs: no `serde_json::Value`
//! tree is built, so a body costs about its own size, and the [`MAX_PAIRS`] budget is checked
//! as members arrive.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{ParamsError, MAX_PAIRS};

/// Decodes a JSON object's members into `out`, refusing more than `budget` pairs.
pub(super) fn decode(
    body: &[u8],
    out: &mut Vec<(String, String)>,
    budget: usize,
) -> Result<(), ParamsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let mut too_many = false;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let seed = Members {
        out,
        budget,
        too_many: &mut too_many,
    };
    let result = seed
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match result {
        Ok(()) => Ok(()),
        Err(_) if too_many => Err(ParamsError::TooMany { limit: MAX_PAIRS }),
        Err(error) => Err(ParamsError::Malformed(format!("JSON body: {error}"))),
    }
}

/// The top-level object: each member becomes one pair (an array, one per element).
struct Members<'a> {
    out: &'a mut Vec<(String, String)>,
    budget: usize,
    too_many: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a JSON object of parameters (Params reads flat objects; use the framework's JSON \
             extractor for other bodies)",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let values = map.next_value_seed(Member {
                name: &name,
                out: &mut *self.out,
                budget: self.budget,
                too_many: &mut *self.too_many,
            });
            values?;
        }
        Ok(())
    }
}

/// One member's value: a scalar, `null`, or an array of scalars.
struct Member<'a> {
    name: &'a str,
    out: &'a mut Vec<(String, String)>,
    budget: usize,
    too_many: &'a mut bool,
}

impl Member<'_> {
    fn push<E: de::Error>(&mut self, value: String) -> Result<(), E> {
        if self.out.len() >= self.budget {
            *self.too_many = true;
            return Err(E::custom("too many parameters"));
        }
        self.out.push((self.name.to_owned(), value));
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The name as sent, cut short: it goes into a 400 and a log line.
        let name: String = self.name.chars().take(64).collect();
        write!(
            f,
            "a string, number, boolean, null or array of those for parameter '{name}' (Params \
             reads flat JSON objects)"
        )
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.push(v.to_owned())
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<(), E> {
        self.push(v)
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        self.push(v.to_string())
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.push(v.to_string())
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.push(v.to_string())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.push(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `null`: absent, as an `Option` field expects.
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Scalar>()? {
            if let Some(value) = value.0 {
                self.push(value)?;
            }
        }
        Ok(())
    }
}

/// An array element: a scalar as text, `None` for `null`.
struct Scalar(Option<String>);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a string, number, boolean or null in an array (Params reads flat JSON objects)",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar(Some(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar(Some(v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar(None))
    }
}
