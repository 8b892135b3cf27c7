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
/// The most NFA states one `patternProperties` pattern may have: property
/// names are matched whole by the `regex` engine (never stopped half-way),
/// at up to this much work per byte, which the body's check counts.
pub const MAX_KEY_PATTERN_STATES: usize = 10_000;

/// The most memory the compiled `pattern`s of one request schema may hold
/// together, counted unfolded (each pattern alone may compile to 1 MiB, as
/// before).
pub const MAX_PATTERN_BYTES: u64 = 16 << 20;

/// What validating against a schema may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Nodes, with every `$ref` unfolded.
    pub unfolded: u64,
    /// NFA states of every `patternProperties` pattern, unfolded: the work
    /// per byte of property names, at most.
    pub key_pattern_states: u64,
    /// Memory of every compiled `pattern`, unfolded.
    pub pattern_bytes: u64,
}

/// What validating against `schema` may cost, or why it is refused.
pub fn measure(schema: &Value) -> Result<Cost, String> {
    let mut walk = Walk {
        root: schema,
        sizes: HashMap::new(),
        expanding: Vec::new(),
    };
    let (unfolded, key_pattern_states) = walk.size(schema)?;
    let mut pattern_bytes = 0;
    let mut sizes = HashMap::new();
    patterns(schema, schema, &mut pattern_bytes, &mut sizes)?;
    Ok(Cost {
        unfolded,
        key_pattern_states,
        pattern_bytes,
    })
}

/// Adds the memory of every compiled `pattern` under `node`, each `$ref`
/// counted as a copy of what it names (the walk has refused cycles), to
/// `total`, which may not pass [`MAX_PATTERN_BYTES`].
fn patterns(
    root: &Value,
    node: &Value,
    total: &mut u64,
    known: &mut HashMap<String, u64>,
) -> Result<(), String> {
    let too_many = || {
        format!(
            "the schema's patterns compile to more than {} MiB together (count every `$ref` as a copy of what it names)",
            MAX_PATTERN_BYTES >> 20
        )
    };
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("pattern", Value::String(source)) => {
                        let bytes = match known.get(source) {
                            Some(bytes) => *bytes,
                            None => {
                                // A `pattern` that does not compile is the
                                // validator's to refuse; a string that only
                                // sits where a pattern would (data under
                                // `const`, say) costs nothing.
                                let bytes = super::pattern::Pattern::compile(source, 1 << 20)
                                    .map_or(0, |compiled| compiled.memory() as u64);
                                known.insert(source.clone(), bytes);
                                bytes
                            }
                        };
                        *total = total.saturating_add(bytes);
                    }
                    ("$ref", Value::String(target)) => {
                        if let Some(named) = target.strip_prefix('#').and_then(|p| root.pointer(p))
                        {
                            patterns(root, named, total, known)?;
                        }
                    }
                    _ => patterns(root, value, total, known)?,
                }
                if *total > MAX_PATTERN_BYTES {
                    return Err(too_many());
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                patterns(root, item, total, known)?;
            }
        }
        _ => {}
    }
    Ok(())
}

struct Walk<'a> {
    root: &'a Value,
    /// Unfolded sizes (and key pattern states) of the definitions already
    /// measured, by pointer.
    sizes: HashMap<String, (u64, u64)>,
    /// The definitions being unfolded, outermost first (to find cycles).
    expanding: Vec<String>,
}

/// The NFA states of the patterns that are the keys of a
/// `patternProperties` object.
fn key_pattern_states(patterns: &serde_json::Map<String, Value>) -> Result<u64, String> {
    let mut states = 0u64;
    for source in patterns.keys() {
        // One that does not compile is the validator's to refuse.
        let Ok(pattern) = super::pattern::Pattern::compile(source, 1 << 20) else {
            continue;
        };
        if pattern.states() > MAX_KEY_PATTERN_STATES as u64 {
            return Err(format!(
                "`patternProperties` pattern `{}` compiles to {} states; property-name patterns may have at most {MAX_KEY_PATTERN_STATES}",
                source.chars().take(80).collect::<String>(),
                pattern.states()
            ));
        }
        states += pattern.states();
    }
    Ok(states)
}

impl<'a> Walk<'a> {
    /// The unfolded size of `node`, and the states of its key patterns.
    fn size(&mut self, node: &'a Value) -> Result<(u64, u64), String> {
        let mut keys = 0u64;
        let size = match node {
            Value::Object(map) => {
                let mut size = 1u64;
                for (key, value) in map {
                    if let ("patternProperties", Value::Object(patterns)) = (key.as_str(), value) {
                        keys = keys.saturating_add(key_pattern_states(patterns)?);
                    }
                    let (inner, inner_keys) = match (key.as_str(), value) {
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
                    size += inner;
                    keys = keys.saturating_add(inner_keys);
                    if size > MAX_UNFOLDED {
                        break;
                    }
                }
                size
            }
            Value::Array(items) => {
                let mut size = 1u64;
                for item in items {
                    let (inner, inner_keys) = self.size(item)?;
                    size += inner;
                    keys = keys.saturating_add(inner_keys);
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
        Ok((size, keys))
    }

    fn reference(&mut self, target: &str) -> Result<(u64, u64), String> {
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
        assert!(measure(&schema).unwrap().unfolded < 30);
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
        assert!(measure(&encoded).is_err());
        // Below a nested `$id`, `#/...` is that subschema's, not the root's.
        let rebased = json!({
            "properties": {"a": {"$id": "http://x/a", "$defs": {"x": {}}, "$ref": "#/$defs/x"}}
        });
        assert!(measure(&rebased).is_err());
        assert!(measure(&json!({"$schema": "http://json-schema.org/draft-04/schema#"})).is_err());
        assert!(measure(&json!({"$id": "http://x/root", "type": "object"})).is_ok());
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
        assert!(measure(&recursive).unwrap_err().contains("refers back"));
        let remote = json!({"$ref": "http://169.254.169.254/schema"});
        assert!(measure(&remote).unwrap_err().contains("leaves the schema"));
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
        assert!(measure(&blow_up).unwrap_err().contains("unfolds"));
    }

    #[test]
    fn property_name_patterns_are_measured_unfolded_and_bounded() {
        let schema = json!({
            "$defs": {"tags": {"type": "object", "patternProperties": {"^[a-z]+$": {"type": "string"}}}},
            "properties": {"a": {"$ref": "#/$defs/tags"}, "b": {"$ref": "#/$defs/tags"}}
        });
        let cost = measure(&schema).unwrap();
        let one = crate::registry::pattern::Pattern::compile("^[a-z]+$", 1 << 20)
            .unwrap()
            .states();
        // Once per reference, and once where it is defined (as nodes are).
        assert_eq!(cost.key_pattern_states, 3 * one);
        let costly = json!({"patternProperties": {"[ab]*a[ab]{12000}[^ab]": {}}});
        assert!(
            measure(&costly)
                .unwrap_err()
                .contains("property-name patterns may have at most")
        );
    }

    #[test]
    fn keywords_hidden_under_names_like_data_keywords_are_still_measured() {
        // A recursive definition reached through a property named like a
        // data keyword, and defined under a name like one.
        let recursive = json!({
            "properties": {"examples": {"$ref": "#/$defs/default/n"}},
            "$defs": {"default": {"n": {"oneOf": [
                {"type": "array", "items": {"$ref": "#/$defs/default/n"}},
                {"type": "array", "items": {"$ref": "#/$defs/default/n"}, "minItems": 0}
            ]}}}
        });
        assert!(measure(&recursive).unwrap_err().contains("refers back"));
        // A doubling chain under `$defs/const`.
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "string"}));
        for level in 1..20 {
            let below = format!("#/$defs/const/d{}", level - 1);
            defs.insert(
                format!("d{level}"),
                json!({"anyOf": [{"$ref": below}, {"$ref": below}]}),
            );
        }
        let blow_up = json!({"$defs": {"const": defs}, "properties": {"enum": {"$ref": "#/$defs/const/d19"}}});
        assert!(measure(&blow_up).unwrap_err().contains("unfolds"));
        // Property-name patterns under a property named `enum`.
        let keys =
            json!({"properties": {"enum": {"patternProperties": {"[ab]*a[ab]{12000}[^ab]": {}}}}});
        assert!(
            measure(&keys)
                .unwrap_err()
                .contains("property-name patterns")
        );
        // Data that only looks like a pattern refuses nothing.
        let data = json!({"const": {"pattern": "[", "patternProperties": {"(": 1}}});
        assert!(measure(&data).is_ok());
    }
}
