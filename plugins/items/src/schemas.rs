//! Request and response bodies. The JSON Schemas derived here are what the
//! host validates requests against (422 naming the field) and publishes in
//! OpenAPI; `service::validate_*` re-checks the same rules in Rust.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

pub const NAME_MAX_CHARS: usize = 100;
pub const DESCRIPTION_MAX_CHARS: usize = 1000;

/// The body of `POST /items` and `PUT /items/{id}`: every field of an item.
#[derive(Debug, Clone, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// 1 to 100 characters, not all of them white space.
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    pub name: String,
    /// Up to 1000 characters.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
    /// A price, zero or more.
    #[schemars(range(min = 0.0))]
    pub price: f64,
    /// How many are in stock.
    #[serde(default)]
    pub quantity: u32,
}

/// The body of `PATCH /items/{id}`: only the fields to change.
/// `"description": null` clears the description.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    /// 1 to 100 characters.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    pub name: Option<String>,
    /// Up to 1000 characters; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(length(max = 1000))]
    pub description: Option<Option<String>>,
    /// A price, zero or more.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub price: Option<f64>,
    /// How many are in stock.
    #[serde(default)]
    pub quantity: Option<u32>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// An item as stored and answered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Item {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: f64,
    pub quantity: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

impl From<Item> for ItemInput {
    fn from(item: Item) -> ItemInput {
        ItemInput {
            name: item.name,
            description: item.description,
            price: item.price,
            quantity: item.quantity,
        }
    }
}

/// The `{id}` of an item's routes.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ItemId {
    /// The item's id.
    #[schemars(range(min = 1))]
    pub id: i64,
}

/// The query of `GET /items`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct Pagination {
    /// Items per page.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = 100))]
    pub limit: u32,
    /// Items to skip.
    #[serde(default)]
    #[schemars(range(max = 9_223_372_036_854_775_807u64))]
    pub offset: u64,
}

fn default_limit() -> u32 {
    20
}

/// One page of `GET /items`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemPage {
    pub items: Vec<Item>,
    /// How many items exist in all.
    pub total: i64,
    pub limit: u32,
    pub offset: u64,
}
