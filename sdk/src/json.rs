//! JSON bodies in, validation problems out, JSON Schemas for the manifest.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::types::Problem;

/// Parses `body` into `T`; a failure is a 422 naming the field at fault
/// (`body` when the JSON itself is malformed).
pub(crate) fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return not_json(inner);
        }
        let field = field_name(&error.path().to_string(), &inner.to_string());
        Problem::validation(&field, &format!("{field}: {inner}"))
    })?;
    deserializer.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(error: &serde_json::Error) -> Problem {
    Problem::validation("body", &format!("body is not valid JSON: {error}"))
}

/// The field a serde error concerns: its path, or for unknown and missing
/// fields (reported at the parent) the name serde quotes in the message.
fn field_name(path: &str, message: &str) -> String {
    let quoted = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, quoted) {
        (".", Some(name)) => name.to_string(),
        (".", None) => "body".to_string(),
        (path, Some(name)) if !path.ends_with(name) => format!("{path}.{name}"),
        (path, _) => path.to_string(),
    }
}

/// The JSON Schema of `T` as JSON text, for a route's request or response.
pub fn json_schema<T: JsonSchema>() -> String {
    schemars::schema_for!(T).as_value().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        count: u32,
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let problem = from_slice::<Thing>(br#"{"name":"a","count":-1}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.field.as_deref(), Some("count"));
    }

    #[test]
    fn an_unknown_field_is_named() {
        let problem = from_slice::<Thing>(br#"{"name":"a","count":1,"colour":"red"}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("colour"));
    }

    #[test]
    fn a_missing_field_is_named() {
        let problem = from_slice::<Thing>(br#"{"name":"a"}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("count"));
    }

    #[test]
    fn malformed_json_names_the_body() {
        let problem = from_slice::<Thing>(b"{not json").unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("body"));
        let problem = from_slice::<Thing>(br#"{"name":"a","count":1} trailing"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("body"));
    }
}
