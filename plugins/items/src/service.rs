//! Business logic: validation, patching and pagination. Pure functions,
//! unit-tested natively.

use berth_sdk::Problem;

use crate::schemas::{DESCRIPTION_MAX_CHARS, ItemInput, ItemPatch, NAME_MAX_CHARS};

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// Checks every rule of a full item; trims the name.
pub fn validate(mut input: ItemInput) -> Result<ItemInput, Problem> {
    input.name = validate_name(&input.name)?;
    if let Some(description) = &input.description {
        validate_description(description)?;
    }
    validate_price(input.price)?;
    Ok(input)
}

/// Applies a patch to the current state of an item and validates the result.
pub fn apply_patch(current: ItemInput, patch: ItemPatch) -> Result<ItemInput, Problem> {
    let merged = ItemInput {
        name: patch.name.unwrap_or(current.name),
        description: patch.description.unwrap_or(current.description),
        price: patch.price.unwrap_or(current.price),
        quantity: patch.quantity.unwrap_or(current.quantity),
    };
    validate(merged)
}

fn validate_name(name: &str) -> Result<String, Problem> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(Problem::validation(
            "name",
            &format!("name must be 1 to {NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

fn validate_description(description: &str) -> Result<(), Problem> {
    if description.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(Problem::validation(
            "description",
            &format!("description must be at most {DESCRIPTION_MAX_CHARS} characters"),
        ));
    }
    Ok(())
}

fn validate_price(price: f64) -> Result<(), Problem> {
    if !price.is_finite() || price < 0.0 {
        return Err(Problem::validation(
            "price",
            "price must be a number, zero or more",
        ));
    }
    Ok(())
}

/// Parses `limit` and `offset` query parameters: `limit` 1..=100 (20 when
/// absent), `offset` 0 or more (0 when absent).
pub fn pagination(limit: Option<&str>, offset: Option<&str>) -> Result<(u32, u64), Problem> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                Problem::validation(
                    "limit",
                    &format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let offset = match offset {
        None => 0,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            Problem::validation("offset", "offset must be an integer, zero or more")
        })?,
    };
    Ok((limit, offset))
}

/// Parses the `{id}` path parameter.
pub fn parse_id(raw: Option<&str>) -> Result<i64, Problem> {
    raw.and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| Problem::validation("id", "id must be a positive integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ItemInput {
        ItemInput {
            name: "Widget".into(),
            description: Some("A thing".into()),
            price: 9.5,
            quantity: 3,
        }
    }

    #[test]
    fn a_valid_item_passes_with_its_name_trimmed() {
        let item = validate(ItemInput {
            name: "  Widget ".into(),
            ..input()
        })
        .unwrap();
        assert_eq!(item.name, "Widget");
    }

    #[test]
    fn an_empty_or_overlong_name_is_refused_naming_the_field() {
        for name in ["", "   ", &"x".repeat(101)] {
            let problem = validate(ItemInput {
                name: name.into(),
                ..input()
            })
            .unwrap_err();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (422, Some("name"))
            );
        }
        assert!(
            validate(ItemInput {
                name: "é".repeat(100),
                ..input()
            })
            .is_ok()
        );
    }

    #[test]
    fn a_negative_or_infinite_price_is_refused() {
        for price in [-0.01, f64::INFINITY, f64::NAN] {
            let problem = validate(ItemInput { price, ..input() }).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some("price"));
        }
        assert!(
            validate(ItemInput {
                price: 0.0,
                ..input()
            })
            .is_ok()
        );
    }

    #[test]
    fn an_overlong_description_is_refused() {
        let problem = validate(ItemInput {
            description: Some("d".repeat(1001)),
            ..input()
        });
        assert_eq!(problem.unwrap_err().field.as_deref(), Some("description"));
    }

    #[test]
    fn a_patch_changes_only_the_given_fields() {
        let patch = ItemPatch {
            price: Some(1.25),
            ..ItemPatch::default()
        };
        let patched = apply_patch(input(), patch).unwrap();
        assert_eq!(
            patched,
            ItemInput {
                price: 1.25,
                ..input()
            }
        );
    }

    #[test]
    fn a_patch_with_null_description_clears_it() {
        let patch: ItemPatch = serde_json::from_str(r#"{"description": null}"#).unwrap();
        assert_eq!(apply_patch(input(), patch).unwrap().description, None);
        let untouched: ItemPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(
            apply_patch(input(), untouched).unwrap().description,
            Some("A thing".into())
        );
    }

    #[test]
    fn a_patch_is_validated_after_merging() {
        let patch = ItemPatch {
            name: Some(" ".into()),
            ..ItemPatch::default()
        };
        assert_eq!(
            apply_patch(input(), patch).unwrap_err().field.as_deref(),
            Some("name")
        );
    }

    #[test]
    fn pagination_has_defaults_and_bounds() {
        assert_eq!(pagination(None, None).unwrap(), (DEFAULT_LIMIT, 0));
        assert_eq!(pagination(Some("100"), Some("40")).unwrap(), (100, 40));
        for bad in ["0", "101", "-1", "ten"] {
            assert_eq!(
                pagination(Some(bad), None).unwrap_err().field.as_deref(),
                Some("limit")
            );
        }
        assert_eq!(
            pagination(None, Some("-3")).unwrap_err().field.as_deref(),
            Some("offset")
        );
    }

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(parse_id(Some("42")).unwrap(), 42);
        for bad in [None, Some("0"), Some("-1"), Some("abc")] {
            assert_eq!(parse_id(bad).unwrap_err().field.as_deref(), Some("id"));
        }
    }
}
