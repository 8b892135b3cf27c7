//! Business logic: pure functions, unit-tested natively (`cargo test`).

use berth_sdk::Problem;

/// A note's text with its surrounding whitespace removed; blank is refused.
pub fn tidy(text: &str) -> Result<String, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::validation("text", "text must not be blank"));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_blank_text_refused() {
        assert_eq!(tidy("  hello ").unwrap(), "hello");
        assert_eq!(tidy(" \t").unwrap_err().field.as_deref(), Some("text"));
    }
}
