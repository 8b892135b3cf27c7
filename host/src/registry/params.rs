//! The path and query parameters a route declares: typed and bounded by a
//! JSON Schema each, checked by the host before any instance is created
//! (every failing one is reported), and published in OpenAPI.

use serde_json::{Number, Value};

use super::schema::{Invalid, bounded_message, compile_bounded};
use crate::bindings::{Param, ParamLocation};

/// How many parameters one route may declare.
pub const MAX_PARAMS: usize = 32;
/// The longest schema of one parameter.
const MAX_SCHEMA_BYTES: usize = 4 * 1024;
/// The longest value of a declared parameter a request may send: checking
/// it costs up to its length times its pattern's size.
pub const MAX_VALUE_CHARS: usize = 1024;
/// The most a parameter's `pattern` may compile to (bodies may have more).
const PATTERN_BYTES: usize = 64 * 1024;
/// What a parameter's schema may say: one scalar's type and bounds. No
/// references, definitions or new bases: nothing to resolve or unfold.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "const",
    "default",
    "description",
    "title",
    "examples",
    "deprecated",
];

/// The scalar types a parameter's text converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Number,
    Boolean,
    String,
}

/// One declared parameter, ready to check requests.
#[derive(Debug)]
pub struct ParamSpec {
    pub name: String,
    pub location: &'static str,
    pub required: bool,
    pub description: String,
    /// As declared, for OpenAPI.
    pub schema: Value,
    kind: Kind,
    validator: jsonschema::Validator,
}

/// The parameters of one route.
#[derive(Debug, Default)]
pub struct Params {
    specs: Vec<ParamSpec>,
}

impl Params {
    /// Checks what a route declares against its template.
    pub fn compile(declared: &[Param], template: &str) -> Result<Params, String> {
        if declared.len() > MAX_PARAMS {
            return Err(format!(
                "{} parameters are declared; at most {MAX_PARAMS} are allowed",
                declared.len()
            ));
        }
        let captured = captured_names(template);
        let mut specs: Vec<ParamSpec> = Vec::with_capacity(declared.len());
        for param in declared {
            let location = match param.location {
                ParamLocation::Path => "path",
                ParamLocation::Query => "query",
            };
            let name = &param.name;
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                return Err(format!(
                    "a parameter name must be 1 to 128 characters, not control ones: {name:?}"
                ));
            }
            if specs
                .iter()
                .any(|s| s.name == *name && s.location == location)
            {
                return Err(format!("{location} parameter `{name}` is declared twice"));
            }
            if param.location == ParamLocation::Path {
                if !captured.contains(&name.as_str()) {
                    return Err(format!(
                        "path parameter `{name}` is not a `{{{name}}}` segment of the route"
                    ));
                }
                if !param.required {
                    return Err(format!("path parameter `{name}` must be required"));
                }
            }
            if param.description.len() > 4 * 1024 || param.schema.len() > MAX_SCHEMA_BYTES {
                return Err(format!(
                    "{location} parameter `{name}`: its description or schema is too long"
                ));
            }
            let schema: Value = serde_json::from_str(&param.schema)
                .map_err(|e| format!("{location} parameter `{name}`: schema is not JSON: {e}"))?;
            let kind = match schema.get("type").and_then(Value::as_str) {
                Some("integer") => Kind::Integer,
                Some("number") => Kind::Number,
                Some("boolean") => Kind::Boolean,
                Some("string") => Kind::String,
                _ => {
                    return Err(format!(
                        "{location} parameter `{name}`: its schema's `type` must be one of integer, number, boolean or string"
                    ));
                }
            };
            if let Some(key) = schema
                .as_object()
                .and_then(|o| o.keys().find(|k| !SCHEMA_KEYWORDS.contains(&k.as_str())))
            {
                return Err(format!(
                    "{location} parameter `{name}`: `{key}` is not accepted in a parameter's schema (one scalar's type and bounds: {})",
                    SCHEMA_KEYWORDS.join(", ")
                ));
            }
            let validator = compile_bounded(&schema, PATTERN_BYTES)
                .map_err(|e| format!("{location} parameter `{name}`: {e}"))?;
            specs.push(ParamSpec {
                name: name.clone(),
                location,
                required: param.required,
                description: param.description.clone(),
                schema,
                kind,
                validator,
            });
        }
        Ok(Params { specs })
    }

    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Every declared parameter that is missing, given twice, or does not
    /// fit its schema; empty when all fit.
    pub fn check(&self, path: &[(String, String)], query: &[(String, String)]) -> Vec<Invalid> {
        let mut problems = Vec::new();
        for spec in &self.specs {
            let source = if spec.location == "path" { path } else { query };
            let mut values = source.iter().filter(|(k, _)| *k == spec.name);
            let invalid = |message: String| Invalid {
                field: spec.name.clone(),
                location: spec.location,
                message,
            };
            let Some((_, text)) = values.next() else {
                if spec.required {
                    problems.push(invalid(format!("{} is required", spec.name)));
                }
                continue;
            };
            if values.next().is_some() {
                problems.push(invalid(format!("{} may be given only once", spec.name)));
                continue;
            }
            if text.chars().nth(MAX_VALUE_CHARS).is_some() {
                let message = format!("{} is longer than {MAX_VALUE_CHARS} characters", spec.name);
                problems.push(invalid(message));
                continue;
            }
            match convert(spec.kind, text) {
                None => problems.push(invalid(format!(
                    "{} must be {}, got {:?}",
                    spec.name,
                    spec.kind.described(),
                    shorten(text)
                ))),
                Some(value) => {
                    if let Some(error) = spec.validator.iter_errors(&value).next() {
                        problems.push(invalid(bounded_message(format!("{}: {error}", spec.name))));
                    }
                }
            }
        }
        problems
    }
}

impl Kind {
    fn described(self) -> &'static str {
        match self {
            Kind::Integer => "an integer",
            Kind::Number => "a number",
            Kind::Boolean => "true or false",
            Kind::String => "text",
        }
    }
}

/// The text a client sent, as a JSON value of `kind`: integers in decimal
/// (with an optional `-`), finite numbers, `true`/`false`.
fn convert(kind: Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::String => Some(Value::String(text.to_string())),
        Kind::Boolean => match text {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Kind::Integer => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // `-0` is 0 to JSON Schema but not to every integer parser a
            // service may use: one spelling of zero.
            if digits.bytes().all(|b| b == b'0') && text.starts_with('-') {
                return None;
            }
            text.parse::<i64>()
                .ok()
                .map(Number::from)
                .or_else(|| text.parse::<u64>().ok().map(Number::from))
                .map(Value::Number)
        }
        Kind::Number => {
            let valid = !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
            if !valid {
                return None;
            }
            text.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
        }
    }
}

/// A client's text, cut for an error message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn captured_names(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|s| s.trim_start_matches('*'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, location: ParamLocation, required: bool, schema: &str) -> Param {
        Param {
            name: name.into(),
            location,
            required,
            description: String::new(),
            schema: schema.into(),
        }
    }

    fn pagination() -> Params {
        Params::compile(
            &[
                param(
                    "id",
                    ParamLocation::Path,
                    true,
                    r#"{"type":"integer","minimum":1}"#,
                ),
                param(
                    "limit",
                    ParamLocation::Query,
                    false,
                    r#"{"type":"integer","minimum":1,"maximum":100,"default":20}"#,
                ),
                param(
                    "offset",
                    ParamLocation::Query,
                    false,
                    r#"{"type":"integer","minimum":0}"#,
                ),
                param(
                    "exact",
                    ParamLocation::Query,
                    false,
                    r#"{"type":"boolean"}"#,
                ),
            ],
            "/{id}",
        )
        .unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn failing(path: &[(&str, &str)], query: &[(&str, &str)]) -> Vec<(String, &'static str)> {
        pagination()
            .check(&fields(path), &fields(query))
            .into_iter()
            .map(|i| (i.field, i.location))
            .collect()
    }

    #[test]
    fn values_that_fit_pass() {
        assert!(failing(&[("id", "42")], &[]).is_empty());
        assert!(
            failing(
                &[("id", "1")],
                &[
                    ("limit", "100"),
                    ("offset", "0"),
                    ("exact", "true"),
                    ("other", "x")
                ]
            )
            .is_empty()
        );
    }

    #[test]
    fn every_failing_parameter_is_reported() {
        assert_eq!(
            failing(&[("id", "0")], &[("limit", "101"), ("offset", "-1")]),
            vec![
                ("id".to_string(), "path"),
                ("limit".to_string(), "query"),
                ("offset".to_string(), "query")
            ]
        );
    }

    #[test]
    fn text_that_is_not_of_the_type_is_refused() {
        for id in [
            "abc",
            "1.0",
            "1e3",
            "",
            "+1",
            " 1",
            "0x10",
            "99999999999999999999999",
        ] {
            assert_eq!(failing(&[("id", id)], &[]).len(), 1, "{id:?}");
        }
        assert_eq!(failing(&[("id", "1")], &[("exact", "1")]).len(), 1);
        let long = "9".repeat(100_000);
        let problems = pagination().check(&fields(&[("id", &long)]), &[]);
        assert!(problems[0].message.contains("longer than"), "{problems:?}");
        assert!(
            problems[0].message.len() < 300,
            "the client's text is not echoed"
        );
    }

    #[test]
    fn a_parameter_given_twice_or_missing_is_refused() {
        assert_eq!(
            failing(&[("id", "1")], &[("limit", "1"), ("limit", "2")]).len(),
            1
        );
        assert_eq!(failing(&[], &[]), vec![("id".to_string(), "path")]);
    }

    #[test]
    fn declarations_are_checked_at_deploy() {
        let bad = |declared: Param, template: &str| Params::compile(&[declared], template).is_err();
        assert!(bad(
            param("id", ParamLocation::Path, true, r#"{"type":"integer"}"#),
            "/"
        ));
        assert!(bad(
            param("id", ParamLocation::Path, false, r#"{"type":"integer"}"#),
            "/{id}"
        ));
        assert!(bad(
            param("q", ParamLocation::Query, false, r#"{"type":"array"}"#),
            "/"
        ));
        assert!(bad(param("q", ParamLocation::Query, false, "{}"), "/"));
        assert!(bad(
            param("q", ParamLocation::Query, false, "not json"),
            "/"
        ));
        assert!(bad(
            param("", ParamLocation::Query, false, r#"{"type":"string"}"#),
            "/"
        ));
        let many: Vec<Param> = (0..=MAX_PARAMS)
            .map(|i| {
                param(
                    &format!("p{i}"),
                    ParamLocation::Query,
                    false,
                    r#"{"type":"string"}"#,
                )
            })
            .collect();
        assert!(Params::compile(&many, "/").is_err());
        let twice = param("q", ParamLocation::Query, false, r#"{"type":"string"}"#);
        assert!(Params::compile(&[twice.clone(), twice], "/").is_err());
    }
}
