//! Builders for the manifest records.

use crate::types::{Dialect, Migration, Setting};

impl Migration {
    /// A migration whose SQL runs unchanged on every dialect.
    pub fn new(version: u32, name: &str, sql: &str) -> Migration {
        Migration {
            version,
            name: name.into(),
            sql: sql.into(),
            dialect_sql: Vec::new(),
        }
    }

    /// Replaces the SQL on `dialect`.
    pub fn on(mut self, dialect: Dialect, sql: &str) -> Migration {
        self.dialect_sql.push((dialect, sql.into()));
        self
    }
}

impl Setting {
    /// A setting the service reads, with its default.
    pub fn new(key: &str, description: &str, default: Option<&str>) -> Setting {
        Setting {
            key: key.into(),
            description: description.into(),
            default: default.map(Into::into),
        }
    }
}
