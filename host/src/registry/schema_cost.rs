//! How much work a request schema can make validation do, measured when the
//! service is deployed. JSON Schema `$ref`s let a small schema stand for a
//! huge one (two references to the same definition at each of twenty
//! levels make a million), and a reference back to itself under `oneOf`
//! makes the work grow exponentially with how deeply the body nests. So a
//! request schema may only reference its own definitions by JSON pointer,
//! never in a cycle, and unfolded (every `$ref` replaced by what it names)
//! it must stay below [`MAX_UNFOLDED`] nodes. Validating then visits each
//! (schema node, body value) pair at most once, and the host bounds that
//! product per request.

use std::collections::HashMap;

use serde_json::Value;

/// The most nodes a request schema may have once its `$ref`s are unfolded.
pub const MAX_UNFOLDED: u64 = 10_000;

/// The unfolded size of `schema`, or why it is refused.
pub fn unfolded_size(schema: &Value) -> Result<u64, String> {
    let mut walk = Walk {
        root: schema,
        sizes: HashMap::new(),
        expanding: Vec::new(),
    };
    walk.size(schema)
}

struct Walk<'a> {
    root: &'a Value,
    /// Unfolded sizes of the definitions already measured, by pointer.
    sizes: HashMap<String, u64>,
    /// The definitions being unfolded, outermost first (to find cycles).
    expanding: Vec<String>,
}

impl<'a> Walk<'a> {
    fn size(&mut self, node: &'a Value) -> Result<u64, String> {
        let size = match node {
            Value::Object(map) => {
                let mut size = 1u64;
                for (key, value) in map {
                    size += match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => self.reference(target)?,
                        // A new base below the root would make `#/...` mean
                        // something else to the validator than here.
                        ("$id" | "$anchor" | "$dynamicAnchor" | "$recursiveAnchor", _)
                            if !std::ptr::eq(node, self.root) =>
                        {
                            return Err(format!(
                                "`{key}` is accepted only at the root of a request schema"
                            ));
                        }
                        ("$schema", Value::String(draft))
                            if draft.contains("draft-03") || draft.contains("draft-04") =>
                        {
                            return Err(format!(
                                "`$schema: {draft}` is not accepted; write draft 7 or later"
                            ));
                        }
                        ("$dynamicRef" | "$recursiveRef", _) => {
                            return Err(format!(
                                "`{key}` is not accepted in a request schema; use `$ref` to a definition"
                            ));
                        }
                        _ => self.size(value)?,
                    };
                    if size > MAX_UNFOLDED {
                        break;
                    }
                }
                size
            }
            Value::Array(items) => {
                let mut size = 1u64;
                for item in items {
                    size += self.size(item)?;
                    if size > MAX_UNFOLDED {
                        break;
                    }
                }
                size
            }
            _ => 1,
        };
        if size > MAX_UNFOLDED {
            return Err(format!(
                "the schema unfolds to more than {MAX_UNFOLDED} nodes (count every `$ref` as a copy of what it names); validating it could take unbounded time"
            ));
        }
        Ok(size)
    }

    fn reference(&mut self, target: &str) -> Result<u64, String> {
        let Some(pointer) = target.strip_prefix('#') else {
            return Err(format!(
                "`$ref: {target}` leaves the schema; only references to its own definitions (`#/$defs/...`) are accepted"
            ));
        };
        if pointer.contains('%') {
            return Err(format!(
                "`$ref: {target}` is percent-encoded; write the definition's name as it is"
            ));
        }
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(format!(
                "`$ref: {target}` names an anchor; use a JSON pointer such as `#/$defs/...`"
            ));
        }
        if let Some(size) = self.sizes.get(pointer) {
            return Ok(*size);
        }
        if self.expanding.iter().any(|p| p == pointer) {
            return Err(format!(
                "`$ref: {target}` refers back to itself; recursive request schemas are not accepted, as validating them can take time exponential in the body's depth"
            ));
        }
        let target_node = self
            .root
            .pointer(pointer)
            .ok_or_else(|| format!("`$ref: {target}` names nothing in the schema"))?;
        self.expanding.push(pointer.to_string());
        let size = self.size(target_node);
        self.expanding.pop();
        let size = size?;
        self.sizes.insert(pointer.to_string(), size);
        Ok(size)
    }
}

/// The number of values in `value` (itself, and everything inside it).
pub fn values(value: &Value) -> u64 {
    match value {
        Value::Object(map) => 1 + map.values().map(values).sum::<u64>(),
        Value::Array(items) => 1 + items.iter().map(values).sum::<u64>(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_and_shared_definitions_are_measured_unfolded() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/x"}, "b": {"$ref": "#/$defs/x"}},
            "$defs": {"x": {"type": "string", "maxLength": 5}}
        });
        assert!(unfolded_size(&schema).unwrap() < 30);
    }

    #[test]
    fn references_the_validator_would_resolve_elsewhere_are_refused() {
        // `%64` is `d` to the validator: a chain of doubling definitions that
        // would be measured through harmless stubs.
        let encoded = json!({
            "$defs": {"d1": {"type": "string"}, "%64": {},
                      "d2": {"allOf": [{"$ref": "#/$defs/%641"}, {"$ref": "#/$defs/%641"}]}},
            "$ref": "#/$defs/d2"
        });
        assert!(unfolded_size(&encoded).is_err());
        // Below a nested `$id`, `#/...` is that subschema's, not the root's.
        let rebased = json!({
            "properties": {"a": {"$id": "http://x/a", "$defs": {"x": {}}, "$ref": "#/$defs/x"}}
        });
        assert!(unfolded_size(&rebased).is_err());
        assert!(
            unfolded_size(&json!({"$schema": "http://json-schema.org/draft-04/schema#"})).is_err()
        );
        assert!(unfolded_size(&json!({"$id": "http://x/root", "type": "object"})).is_ok());
    }

    #[test]
    fn recursion_remote_references_and_blow_ups_are_refused() {
        let recursive = json!({
            "$defs": {"n": {"oneOf": [
                {"type": "array", "items": {"$ref": "#/$defs/n"}},
                {"type": "array", "items": {"$ref": "#/$defs/n"}, "minItems": 0}
            ]}},
            "$ref": "#/$defs/n"
        });
        assert!(
            unfolded_size(&recursive)
                .unwrap_err()
                .contains("refers back")
        );
        let remote = json!({"$ref": "http://169.254.169.254/schema"});
        assert!(
            unfolded_size(&remote)
                .unwrap_err()
                .contains("leaves the schema")
        );
        // Two references per level, twenty levels: a million nodes.
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "string"}));
        for level in 1..20 {
            let below = format!("#/$defs/d{}", level - 1);
            defs.insert(
                format!("d{level}"),
                json!({"anyOf": [{"$ref": below}, {"$ref": below}]}),
            );
        }
        let blow_up = json!({"$defs": defs, "$ref": "#/$defs/d19"});
        assert!(unfolded_size(&blow_up).unwrap_err().contains("unfolds"));
    }
}
