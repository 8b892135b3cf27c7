//! Request validation against the JSON Schema a route declares: done by the
//! host, before any instance is created, with a 422 that lists every field
//! that does not fit.

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::{pattern, schema_cost};

/// The most (schema node, body value) pairs one request's validation may
/// visit; a larger body is refused before it is checked.
const MAX_WORK: u64 = 50_000_000;
/// Above this much work, validation runs on the blocking pool rather than
/// on the threads that serve requests.
const INLINE_WORK: u64 = 200_000;

/// A compiled request schema.
#[derive(Debug)]
pub struct RequestSchema {
    validator: jsonschema::Validator,
    /// Its size with every `$ref` unfolded (see `schema_cost`).
    unfolded: u64,
    /// What matching one byte of a property name may cost, over every
    /// `patternProperties` pattern unfolded: that matching runs whole.
    key_states: u64,
}

/// At most this many problems are reported for one request.
pub const MAX_PROBLEMS: usize = 32;

/// One reason a request was refused: the field (`price`, `tags[1]`, `id`),
/// where it was (`body`, `path` or `query`), and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub location: &'static str,
    pub message: String,
}

/// The longest message of one problem: validators quote the value at
/// fault, which is the client's and may be as large as the body.
const MAX_MESSAGE_CHARS: usize = 240;

/// `message`, cut to [`MAX_MESSAGE_CHARS`].
pub fn bounded_message(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message,
    }
}

/// A validator for `schema`. Its `pattern`s are matched within the
/// request's budget of work (see [`super::pattern`]); `patternProperties`
/// keys run on the linear-time `regex` engine, compiled within bounds: a
/// schema cannot make validation backtrack, nor match for ever.
pub fn compile_validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    compile_bounded(schema, 1 << 20)
}

/// [`compile_validator`] with patterns compiled to at most `regex_bytes`.
pub fn compile_bounded(
    schema: &Value,
    regex_bytes: usize,
) -> Result<jsonschema::Validator, String> {
    let patterns = jsonschema::PatternOptions::regex()
        .size_limit(regex_bytes)
        .dfa_size_limit(regex_bytes);
    pattern::options(regex_bytes)
        .with_pattern_options(patterns)
        .build(schema)
        .map_err(|e| format!("the schema is not a valid JSON Schema: {e}"))
}

impl RequestSchema {
    pub fn compile(schema_text: &str) -> Result<RequestSchema, String> {
        let schema: Value = serde_json::from_str(schema_text)
            .map_err(|e| format!("the schema is not JSON: {e}"))?;
        let cost = schema_cost::measure(&schema)?;
        let validator = compile_validator(&schema)?;
        Ok(RequestSchema {
            validator,
            unfolded: cost.unfolded,
            key_states: cost.key_pattern_states,
        })
    }

    /// What checking a body of `len` bytes may cost at most, besides its
    /// `pattern`s (which the request's budget bounds as they run): every
    /// (schema node, value) pair, a value taking at least a byte, and every
    /// byte of its property names against every `patternProperties`
    /// pattern.
    fn work(&self, len: usize) -> u64 {
        let len = len as u64;
        self.unfolded
            .saturating_mul(len)
            .saturating_add(self.key_states.saturating_mul(len))
    }

    /// Whether checking a body of `len` bytes may take long enough that it
    /// belongs on the blocking pool.
    pub fn is_heavy(&self, len: usize) -> bool {
        self.work(len) > INLINE_WORK
    }

    /// Parses and validates a body; every problem found is reported (up to
    /// [`MAX_PROBLEMS`]).
    pub fn check(&self, body: &[u8]) -> Result<(), Vec<Invalid>> {
        let whole = |message: String| {
            vec![Invalid {
                field: "body".into(),
                location: "body",
                message,
            }]
        };
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| whole(format!("body is not valid JSON: {e}")))?;
        let work = self
            .unfolded
            .saturating_mul(schema_cost::values(&instance))
            .saturating_add(self.key_states.saturating_mul(body.len() as u64));
        if work > MAX_WORK {
            return Err(whole(format!(
                "body has too many values to check against this route's schema (at most {} here)",
                MAX_WORK / self.unfolded.saturating_add(self.key_states).max(1)
            )));
        }
        let problems: Vec<Invalid> = self
            .validator
            .iter_errors(&instance)
            .take(MAX_PROBLEMS)
            .map(|error| {
                let field = bounded_message(field_of(&error));
                Invalid {
                    message: bounded_message(format!("{field}: {error}")),
                    field,
                    location: "body",
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `price` for `/price`, `tags[2]` for `/tags/2`; for unknown or missing
/// properties (reported at their parent), the property itself.
fn field_of(error: &jsonschema::ValidationError<'_>) -> String {
    let mut path: Vec<String> = error
        .instance_path()
        .as_str()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            if let Some(first) = unexpected.first() {
                path.push(first.clone());
            }
        }
        ValidationErrorKind::Required { property } => {
            path.push(
                property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_string),
            );
        }
        _ => {}
    }
    let mut field = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() && !field.is_empty() {
            field.push_str(&format!("[{segment}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&segment);
        }
    }
    if field.is_empty() {
        "body".into()
    } else {
        field
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> RequestSchema {
        RequestSchema::compile(
            r#"{
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "price"],
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "price": {"type": "number", "minimum": 0},
                    "tags": {"type": "array", "items": {"type": "string"}}
                }
            }"#,
        )
        .unwrap()
    }

    #[test]
    fn a_valid_body_passes() {
        assert_eq!(schema().check(br#"{"name":"a","price":1}"#), Ok(()));
    }

    #[test]
    fn each_kind_of_problem_names_its_field() {
        let field = |body: &str| {
            schema().check(body.as_bytes()).unwrap_err()[0]
                .field
                .clone()
        };
        assert_eq!(field(r#"{"name":"","price":1}"#), "name");
        assert_eq!(field(r#"{"name":"a","price":-1}"#), "price");
        assert_eq!(field(r#"{"name":"a"}"#), "price");
        assert_eq!(field(r#"{"name":"a","price":1,"colour":"red"}"#), "colour");
        assert_eq!(field(r#"{"name":"a","price":1,"tags":["x",2]}"#), "tags[1]");
        assert_eq!(field("[1,2]"), "body");
        assert_eq!(field("{oops"), "body");
    }

    #[test]
    fn every_failing_field_is_listed() {
        let problems = schema()
            .check(br#"{"name":"","price":-1,"colour":"red"}"#)
            .unwrap_err();
        let mut fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["colour", "name", "price"]);
        assert!(problems.iter().all(|p| p.location == "body"));
        let many = format!(
            r#"{{"name":"a","price":1,"tags":[{}]}}"#,
            vec!["1"; 1000].join(",")
        );
        assert_eq!(
            schema().check(many.as_bytes()).unwrap_err().len(),
            MAX_PROBLEMS
        );
    }

    #[test]
    fn patterns_cannot_backtrack_catastrophically() {
        let schema = RequestSchema::compile(
            r#"{"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}"#,
        )
        .unwrap();
        let evil = format!(r#"{{"s": "{}!"}}"#, "a".repeat(50_000));
        let started = std::time::Instant::now();
        assert_eq!(schema.check(evil.as_bytes()).unwrap_err()[0].field, "s");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // Look-around needs backtracking: such a schema is refused at deploy.
        assert!(RequestSchema::compile(r#"{"type": "string", "pattern": "^(?=a)a$"}"#).is_err());
    }

    #[test]
    fn deeply_nested_bodies_are_refused_not_recursed_into() {
        let body = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(
            schema().check(body.as_bytes()).unwrap_err()[0].field,
            "body"
        );
    }

    #[test]
    fn a_broken_schema_is_refused() {
        assert!(RequestSchema::compile("not json").is_err());
        assert!(RequestSchema::compile(r#"{"type": 12}"#).is_err());
    }
}
