//! Reading request bodies the way Chatwoot (Rails) does.
//!
//! Bodies are parsed by hand rather than into fixed structs because Rails is
//! lenient in ways clients rely on: a flat JSON body is also accepted under
//! the resource's key (`{"contact": {...}}` and `{...}` both work), ids may be
//! numeric strings (`"inbox_id": "4"`), booleans may be `"true"`/`"false"`,
//! and an empty body is an empty object. A body that is not JSON is a 400; a
//! field of the wrong type is a 422 naming the field.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object from a request.
#[derive(Debug, Clone, Default)]
pub struct Body(pub Map<String, Value>);

/// Whether any string or key in the value contains a NUL character.
fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl Body {
    /// Parses a request body; empty means `{}`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            // Postgres cannot store NUL in text or jsonb: refuse it up front.
            Ok(value @ Value::Object(_)) if has_nul(&value) => Err(ApiError::Unprocessable(
                "Text must not contain NUL characters".into(),
            )),
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(ApiError::BadRequest(
                "The request body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::BadRequest(format!(
                "The request body is not valid JSON: {e}"
            ))),
        }
    }

    /// The object under `key` if the client wrapped its fields in it, else the body itself.
    pub fn unwrap_key(self, key: &str) -> Body {
        match self.0.get(key) {
            Some(Value::Object(inner)) => Body(inner.clone()),
            _ => self,
        }
    }

    /// Whether the key is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// An optional string; numbers are accepted as their text.
    pub fn string(&self, key: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(type_error(key, "a string")),
        }
    }

    /// A present-or-absent nullable string: `None` absent, `Some(None)` null.
    pub fn nullable_string(&self, key: &str) -> Result<Option<Option<String>>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            _ => Ok(Some(self.string(key)?)),
        }
    }

    /// An optional integer id; numeric strings are accepted.
    pub fn id(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| type_error(key, "an integer")),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| type_error(key, "an integer")),
            Some(_) => Err(type_error(key, "an integer")),
        }
    }

    /// An optional boolean; `"true"`/`"false"` (and 1/0) are accepted.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" | "" => Ok(Some(false)),
                _ => Err(type_error(key, "a boolean")),
            },
            Some(Value::Number(n)) => match n.as_i64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(type_error(key, "a boolean")),
            },
            Some(_) => Err(type_error(key, "a boolean")),
        }
    }

    /// An optional JSON object.
    pub fn object(&self, key: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(_) => Err(type_error(key, "an object")),
        }
    }

    /// A nested body (e.g. `channel`), empty when absent.
    pub fn nested(&self, key: &str) -> Result<Body, ApiError> {
        Ok(Body(self.object(key)?.unwrap_or_default()))
    }

    /// An optional value deserialised into `T`.
    pub fn typed<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| ApiError::Unprocessable(format!("{key} is invalid: {e}"))),
        }
    }
}

fn type_error(key: &str, what: &str) -> ApiError {
    ApiError::Unprocessable(format!("{key} must be {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_body_and_a_wrapped_body_read_the_same() {
        let flat = Body::parse(br#"{"name":"x"}"#)
            .unwrap()
            .unwrap_key("contact");
        let wrapped = Body::parse(br#"{"contact":{"name":"x"}}"#)
            .unwrap()
            .unwrap_key("contact");
        assert_eq!(
            flat.string("name").unwrap(),
            wrapped.string("name").unwrap()
        );
    }

    #[test]
    fn ids_may_be_numeric_strings_but_not_words() {
        let b = Body::parse(br#"{"a":"4","b":5,"c":"x","d":true}"#).unwrap();
        assert_eq!(b.id("a").unwrap(), Some(4));
        assert_eq!(b.id("b").unwrap(), Some(5));
        assert!(b.id("c").is_err());
        assert!(b.id("d").is_err());
        assert_eq!(b.id("missing").unwrap(), None);
    }

    #[test]
    fn an_empty_body_is_an_empty_object_and_junk_is_a_400() {
        assert!(Body::parse(b"").unwrap().0.is_empty());
        assert!(matches!(
            Body::parse(b"{nope"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(Body::parse(b"[1]"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn booleans_may_be_strings() {
        let b = Body::parse(br#"{"a":"true","b":"false","c":"maybe"}"#).unwrap();
        assert_eq!(b.boolean("a").unwrap(), Some(true));
        assert_eq!(b.boolean("b").unwrap(), Some(false));
        assert!(b.boolean("c").is_err());
    }
}
