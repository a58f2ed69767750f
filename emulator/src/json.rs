//! A JSON value that keeps object members in the order they were received.
//!
//! `serde_json::Value` sorts object keys (the workspace does not enable `preserve_order`),
//! but the emulator must (a) hand back each message exactly as it was received and (b) name
//! data entries by their position, as FCM does (`message.data[1].value`).
//!
//! Strings and keys borrow from the parsed text when they contain no escapes (`J<'a>`), so
//! validating a send request allocates only the tree's vectors, not one `String` per member;
//! [`J::into_owned`] detaches a value from its text for the few that are kept.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value; strings and keys borrow from the text it was parsed from when they can.
#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    pub fn as_obj(&self) -> Option<&[(Cow<'a, str>, J<'a>)]> {
        match self {
            J::Obj(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The first member named by any of `names` (snake_case and lowerCamelCase spellings),
    /// treating an explicit `null` as absent, as proto3 JSON does.
    pub fn get_any(&self, names: &[&str]) -> Option<&J<'a>> {
        self.as_obj()?.iter().find(|(k, v)| names.contains(&&**k) && !matches!(v, J::Null)).map(|(_, v)| v)
    }

    /// Short JSON rendering used in FCM-style error messages (`..., 12`, `..., true`).
    pub fn literal(&self) -> String {
        match self {
            J::Obj(_) => "Starting an object on a scalar field".to_string(),
            J::Arr(_) => "Starting an array on a scalar field".to_string(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    /// The same value, owning all its strings (for messages kept after the request is gone).
    pub fn into_owned(self) -> J<'static> {
        match self {
            J::Null => J::Null,
            J::Bool(b) => J::Bool(b),
            J::Num(n) => J::Num(n),
            J::Str(s) => J::Str(Cow::Owned(s.into_owned())),
            J::Arr(a) => J::Arr(a.into_iter().map(J::into_owned).collect()),
            J::Obj(m) => J::Obj(m.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect()),
        }
    }
}

/// A `Cow` that borrows the same text as `c` (no copy when `c` borrows; a copy when it owns).
pub fn reborrow<'a>(c: &Cow<'a, str>) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(s),
        Cow::Owned(s) => Cow::Owned(s.clone()),
    }
}

impl Serialize for J<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::Num(n) => n.serialize(s),
            J::Str(v) => s.serialize_str(v),
            J::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            J::Obj(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(&**k, v)?;
                }
                map.end()
            }
        }
    }
}

/// A string that borrows from the input when the deserializer allows it (serde's own
/// `Cow<str>` impl always copies).
struct Text<'a>(Cow<'a, str>);

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text<'de>, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
        Ok(J::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<J<'de>, E> {
        serde_json::Number::from_f64(v).map(J::Num).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(J::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((Text(k), v)) = map.next_entry::<Text<'de>, J<'de>>()? {
            out.push((k, v));
        }
        Ok(J::Obj(out))
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_member_order_and_round_trips() {
        let text = r#"{"z":1,"a":{"y":"s","b":[true,null,2.5]},"m":"x"}"#;
        let j: J = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&j).unwrap(), text);
        assert_eq!(j.get_any(&["a"]).unwrap().get_any(&["y"]).unwrap().as_str(), Some("s"));
        assert_eq!(J::Num(12.into()).literal(), "12");
        assert_eq!(J::Bool(true).literal(), "true");
    }
}
