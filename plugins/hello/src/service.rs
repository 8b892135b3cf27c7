//! Business logic: composing a greeting.

use berth_sdk::Problem;
use schemars::JsonSchema;
use serde::Serialize;

/// The service version; the `v2` build answers differently so that swaps
/// between the two are observable, and the `broken` one fails every request.
pub const VERSION: &str = if cfg!(feature = "broken") {
    "3.0.0"
} else if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};

/// The greeting used when the deployment sets none.
pub const DEFAULT_GREETING: &str = "Hello";

const MAX_NAME_CHARS: usize = 100;

/// A greeting, as answered to the client.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct Greeting {
    /// The greeting text.
    pub message: String,
    /// The version of the service that answered.
    pub version: String,
}

/// Greets `name` with `greeting` (or the default).
pub fn greet(greeting: Option<&str>, name: &str) -> Result<Greeting, Problem> {
    if cfg!(feature = "broken") {
        panic!("hello {VERSION} fails every request on purpose");
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(Problem::validation("name", "name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Problem::validation(
            "name",
            &format!("name must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let greeting = greeting.unwrap_or(DEFAULT_GREETING);
    let message = if cfg!(feature = "v2") {
        format!("{greeting}, {name}! (v2)")
    } else {
        format!("{greeting}, {name}!")
    };
    Ok(Greeting {
        message,
        version: VERSION.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_with_the_configured_greeting() {
        let greeting = greet(Some("Howdy"), "ada").unwrap();
        assert!(greeting.message.starts_with("Howdy, ada!"));
    }

    #[test]
    fn falls_back_to_the_default_greeting() {
        assert!(
            greet(None, "ada")
                .unwrap()
                .message
                .starts_with("Hello, ada!")
        );
    }

    #[test]
    fn refuses_an_empty_or_overlong_name() {
        assert_eq!(
            greet(None, "  ").unwrap_err().field.as_deref(),
            Some("name")
        );
        let long = "x".repeat(101);
        assert_eq!(greet(None, &long).unwrap_err().status, 422);
    }
}
