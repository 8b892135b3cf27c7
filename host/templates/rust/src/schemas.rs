//! Request and response bodies and parameters. Their JSON Schemas are what
//! the host checks requests against and publishes in `/openapi.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The body of `POST /`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 280 characters.
    #[schemars(length(min = 1, max = 280))]
    pub text: String,
}

/// A note as stored and answered.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Note {
    pub id: i64,
    pub text: String,
}

/// The `{id}` of `GET /{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoteId {
    /// The note's id.
    #[schemars(range(min = 1))]
    pub id: i64,
}
