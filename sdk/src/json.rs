//! JSON bodies in, validation problems out, JSON Schemas for the manifest.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::types::Problem;

/// Parses `body` into `T`; a failure is a 422 naming the field at fault
/// (`body` when the JSON itself is malformed). Numbers are read as JSON
/// Schema reads them: `2978.0` is an integer, so it fits an integer field.
pub(crate) fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let direct = parse::<T>(body);
    match direct {
        Err(problem) if problem.field.as_deref() != Some("body") => {
            let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
                return Err(problem);
            };
            if !integral_floats_to_integers(&mut value) {
                return Err(problem);
            }
            // Reparsed only when some number changed: the usual body is
            // parsed once.
            parse::<T>(value.to_string().as_bytes()).map_err(|_| problem)
        }
        other => other,
    }
}

/// Rewrites every float with no fractional part that an `i64` or `u64`
/// holds as that integer; whether any changed.
fn integral_floats_to_integers(value: &mut Value) -> bool {
    match value {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // 2^63 and 2^64 are exact floats; the casts are exact below them.
            let integer = if f.fract() != 0.0 || !f.is_finite() {
                None
            } else if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                Some(Value::from(f as i64))
            } else if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                Some(Value::from(f as u64))
            } else {
                None
            };
            integer.map(|integer| *value = integer).is_some()
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |changed, v| integral_floats_to_integers(v) | changed),
        _ => false,
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
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
/// Integers carry the bounds of their Rust type (`u32` is 0 to 4294967295),
/// so that the schema says exactly what the handler accepts.
pub fn json_schema<T: JsonSchema>() -> String {
    let mut schema = schemars::schema_for!(T).to_value();
    bound_integers(&mut schema);
    schema.to_string()
}

/// Adds `minimum` and `maximum` to every schema whose `format` names a
/// fixed-width integer (as schemars writes them), where they are missing
/// or wider than the type.
pub(crate) fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let range: Option<(Value, Value)> = match map.get("format").and_then(Value::as_str) {
                Some("int8") => Some((i8::MIN.into(), i8::MAX.into())),
                Some("int16") => Some((i16::MIN.into(), i16::MAX.into())),
                Some("int32") => Some((i32::MIN.into(), i32::MAX.into())),
                Some("int64") => Some((i64::MIN.into(), i64::MAX.into())),
                Some("uint8") => Some((0.into(), u8::MAX.into())),
                Some("uint16") => Some((0.into(), u16::MAX.into())),
                Some("uint32") => Some((0.into(), u32::MAX.into())),
                Some("uint64") => Some((0.into(), u64::MAX.into())),
                // `usize` and `isize` on the wasm32 guest.
                Some("uint") => Some((0.into(), u32::MAX.into())),
                Some("int") => Some((i32::MIN.into(), i32::MAX.into())),
                Some("float") => Some((f64::from(f32::MIN).into(), f64::from(f32::MAX).into())),
                _ => None,
            };
            if let Some((low, high)) = range {
                let narrower = |key: &str, bound: &Value, keep_larger: bool| {
                    map.get(key).and_then(Value::as_f64).is_some_and(|have| {
                        let bound = bound.as_f64().unwrap_or_default();
                        if keep_larger {
                            have >= bound
                        } else {
                            have <= bound
                        }
                    })
                };
                let keep_min = narrower("minimum", &low, true);
                let keep_max = narrower("maximum", &high, false);
                if !keep_min {
                    map.insert("minimum".into(), low);
                }
                if !keep_max {
                    map.insert("maximum".into(), high);
                }
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
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
    fn an_integral_float_fits_an_integer_field() {
        let thing = from_slice::<Thing>(br#"{"name":"a","count":2978.0}"#).unwrap();
        assert_eq!(thing.count, 2978);
        let thing = from_slice::<Thing>(br#"{"name":"a","count":3e2}"#).unwrap();
        assert_eq!(thing.count, 300);
        #[derive(serde::Deserialize)]
        struct Wide {
            n: u64,
        }
        assert_eq!(
            from_slice::<Wide>(br#"{"n":1e17}"#).unwrap().n,
            100_000_000_000_000_000
        );
        assert!(from_slice::<Wide>(br#"{"n":1e20}"#).is_err());
        let problem = from_slice::<Thing>(br#"{"name":"a","count":2978.5}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("count"));
        let problem = from_slice::<Thing>(br#"{"name":"a","count":-1.0}"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("count"));
    }

    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Counts {
        small: u8,
        #[schemars(range(min = 1, max = 10))]
        narrow: u32,
        wide: Option<i64>,
    }

    #[test]
    fn integer_schemas_carry_their_types_bounds() {
        let schema: Value = serde_json::from_str(&json_schema::<Counts>()).unwrap();
        let bounds = |name: &str| {
            let p = &schema["properties"][name];
            (p["minimum"].clone(), p["maximum"].clone())
        };
        assert_eq!(bounds("small"), (0.into(), 255.into()));
        assert_eq!(
            bounds("narrow"),
            (1.into(), 10.into()),
            "narrower bounds are kept"
        );
        assert_eq!(bounds("wide"), (i64::MIN.into(), i64::MAX.into()));
    }

    #[test]
    fn malformed_json_names_the_body() {
        let problem = from_slice::<Thing>(b"{not json").unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("body"));
        let problem = from_slice::<Thing>(br#"{"name":"a","count":1} trailing"#).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("body"));
    }
}
