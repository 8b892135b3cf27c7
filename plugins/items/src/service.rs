//! Business logic: the rules of an item beyond its schema (a name is
//! trimmed before its length counts; a price is finite), and patching.
//! Pure functions, unit-tested natively.

use berth_sdk::Problem;

use crate::schemas::{DESCRIPTION_MAX_CHARS, ItemInput, ItemPatch, NAME_MAX_CHARS};

/// What the schema's `\S` calls white space: ECMA-262's `\s`, the dialect
/// of JSON Schema patterns, which the host and every client of the OpenAPI
/// use. A name is trimmed of exactly these, so a name the schema accepts
/// (one with a character that is not one of them) is never trimmed to
/// nothing. Rust's `str::trim` would differ by two: it takes U+0085 and
/// leaves U+FEFF.
fn is_schema_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// Checks every rule of a full item; trims the name.
pub fn validate(mut input: ItemInput) -> Result<ItemInput, Problem> {
    input.name = input.name.trim_matches(is_schema_space).to_string();
    if !(1..=NAME_MAX_CHARS).contains(&input.name.chars().count()) {
        let message = format!("name must be 1 to {NAME_MAX_CHARS} characters");
        return Err(Problem::validation("name", &message));
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX_CHARS)
    {
        let message = format!("description must be at most {DESCRIPTION_MAX_CHARS} characters");
        return Err(Problem::validation("description", &message));
    }
    if !input.price.is_finite() || input.price < 0.0 {
        return Err(Problem::validation(
            "price",
            "price must be a number, zero or more",
        ));
    }
    Ok(input)
}

/// Applies a patch to the current state of an item and validates the result.
pub fn apply_patch(current: ItemInput, patch: ItemPatch) -> Result<ItemInput, Problem> {
    validate(ItemInput {
        name: patch.name.unwrap_or(current.name),
        description: patch.description.unwrap_or(current.description),
        price: patch.price.unwrap_or(current.price),
        quantity: patch.quantity.unwrap_or(current.quantity),
    })
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
    fn a_name_is_trimmed_of_what_the_schema_calls_white_space_and_only_that() {
        let trimmed = |name: &str| {
            validate(ItemInput {
                name: name.into(),
                ..input()
            })
            .map(|item| item.name)
        };
        let spaces = "\t\n\u{b}\u{c}\r \u{a0}\u{1680}\u{2000}\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}\u{feff}";
        assert_eq!(trimmed(&format!("{spaces}a b{spaces}")).unwrap(), "a b");
        assert!(spaces.chars().all(is_schema_space));
        // Not white space to JSON Schema, so not to the service either.
        for kept in ["\u{1e}", "\u{1c}\u{1f}", "\u{85}", "\u{200b}", "\u{180e}"] {
            assert_eq!(trimmed(kept).unwrap(), kept, "{kept:?}");
        }
        assert_eq!(trimmed("\t\n\u{1e}").unwrap(), "\u{1e}");
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
}
