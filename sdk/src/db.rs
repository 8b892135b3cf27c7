//! Typed access to the `database` interface: values from Rust types and rows
//! read by column name.

use serde::de::DeserializeOwned;

use crate::database::{self, Error, Rows, Transaction, Value};
use crate::types::Problem;

pub use crate::database::{begin, current_dialect};

/// Reads a Rust value out of a SQL [`Value`].
pub trait FromValue: Sized {
    /// Converts, or explains why the value does not fit.
    fn from_value(value: &Value) -> Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<i64, String> {
        match value {
            Value::Integer(i) => Ok(*i),
            Value::Boolean(b) => Ok(i64::from(*b)),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromValue for u32 {
    fn from_value(value: &Value) -> Result<u32, String> {
        let wide = i64::from_value(value)?;
        u32::try_from(wide).map_err(|_| format!("{wide} does not fit in u32"))
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<f64, String> {
        match value {
            Value::Real(r) => Ok(*r),
            // SQLite stores whole REAL values it can as integers.
            Value::Integer(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<bool, String> {
        match value {
            Value::Boolean(b) => Ok(*b),
            Value::Integer(i) => Ok(*i != 0),
            other => Err(format!("expected a boolean, found {other:?}")),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<String, String> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Vec<u8>, String> {
        match value {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected a blob, found {other:?}")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Option<T>, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

macro_rules! value_from {
    ($($rust:ty => $variant:ident($conv:expr)),* $(,)?) => {$(
        impl From<$rust> for Value {
            fn from(v: $rust) -> Value {
                Value::$variant($conv(v))
            }
        }
    )*};
}

value_from! {
    i64 => Integer(|v| v),
    i32 => Integer(i64::from),
    u32 => Integer(i64::from),
    f64 => Real(|v| v),
    bool => Boolean(|v| v),
    String => Text(|v| v),
    &str => Text(str::to_string),
    Vec<u8> => Blob(|v| v),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// One row of a result, readable by column name.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl Row<'_> {
    /// The value of `column`, converted to `T`.
    pub fn get<T: FromValue>(&self, column: &str) -> Result<T, Error> {
        let index = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| Error::Other(format!("no column `{column}` in the result")))?;
        T::from_value(&self.values[index])
            .map_err(|e| Error::Other(format!("column `{column}`: {e}")))
    }
}

impl Row<'_> {
    /// The row as `T`, field by column name (`#[derive(Deserialize)]`):
    /// integers, reals, text, booleans and `NULL` (for `Option` fields) as
    /// they are, blobs as byte lists.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let object: serde_json::Map<String, serde_json::Value> = self
            .columns
            .iter()
            .zip(self.values)
            .map(|(column, value)| (column.clone(), json_value(value)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| Error::Other(format!("a row does not decode: {e}")))
    }
}

fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Integer(i) => (*i).into(),
        Value::Real(f) => (*f).into(),
        Value::Text(t) => t.as_str().into(),
        Value::Blob(b) => b.as_slice().into(),
        Value::Boolean(b) => (*b).into(),
    }
}

impl Rows {
    /// The rows, each readable by column name.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }
}

/// Runs `work` in a transaction: committed when it returns `Ok`, rolled back
/// (by dropping the transaction) when it returns `Err`.
pub fn transaction<T, E: From<Error>>(
    work: impl FnOnce(&Transaction) -> Result<T, E>,
) -> Result<T, E> {
    let tx = begin()?;
    let out = work(&tx)?;
    Transaction::commit(tx)?;
    Ok(out)
}

impl From<Error> for Problem {
    /// Maps a database failure to what a client should see: a conflict for a
    /// violated constraint, 503 when the database is unavailable, 500 for the
    /// rest. The database's message is logged, not sent.
    fn from(error: Error) -> Problem {
        let (problem, detail) = match &error {
            Error::ConstraintViolation(m) => (
                Problem::conflict("the request conflicts with existing data"),
                m,
            ),
            Error::Unavailable(m) => (
                Problem::unavailable("the database is unavailable, retry later"),
                m,
            ),
            Error::LimitExceeded(m) => (
                Problem::new(500, "limit_exceeded", "a database limit was exceeded"),
                m,
            ),
            Error::NotPermitted(m) | Error::InvalidQuery(m) | Error::Other(m) => (
                Problem::internal("the service failed to query its database"),
                m,
            ),
        };
        database_log(&error, detail);
        problem
    }
}

fn database_log(error: &Error, detail: &str) {
    let kind = match error {
        Error::ConstraintViolation(_) => "constraint-violation",
        Error::NotPermitted(_) => "not-permitted",
        Error::Unavailable(_) => "unavailable",
        Error::LimitExceeded(_) => "limit-exceeded",
        Error::InvalidQuery(_) => "invalid-query",
        Error::Other(_) => "other",
    };
    crate::log::log(
        crate::log::Level::Warn,
        "database error",
        &[
            ("kind".into(), kind.into()),
            ("detail".into(), detail.into()),
        ],
    );
}

/// Where statements run: the namespace directly ([`Db`]) or an open
/// [`Transaction`]. Models take `&impl Executor` so that the same code runs in
/// and out of transactions.
pub trait Executor {
    /// Runs one statement that returns rows.
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, Error>;

    /// Runs one statement and returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Error>;

    /// Runs a query and maps its first row, if any.
    fn query_one<T>(
        &self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(Row<'_>) -> Result<T, Error>,
    ) -> Result<Option<T>, Error> {
        let rows = self.query(sql, params)?;
        rows.first().map(map).transpose()
    }

    /// Runs a query and decodes every row as `T` (see [`Row::decode`]).
    fn query_as<T: DeserializeOwned>(&self, sql: &str, params: &[Value]) -> Result<Vec<T>, Error> {
        self.query(sql, params)?
            .iter()
            .map(|row| row.decode())
            .collect()
    }

    /// Runs a query and decodes its first row, if any, as `T`.
    fn query_one_as<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<T>, Error> {
        self.query_one(sql, params, |row| row.decode())
    }
}

/// The service's namespace, outside any transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Db;

impl Executor for Db {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, Error> {
        database::query(sql, params)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        database::execute(sql, params)
    }
}

impl Executor for Transaction {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, Error> {
        Transaction::query(self, sql, params)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Error> {
        Transaction::execute(self, sql, params)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        id: i64,
        name: String,
        price: f64,
        note: Option<String>,
        done: bool,
    }

    fn rows(values: Vec<Value>) -> Rows {
        Rows {
            columns: ["id", "name", "price", "note", "done"]
                .map(String::from)
                .to_vec(),
            rows: vec![values],
        }
    }

    #[test]
    fn a_row_decodes_by_column_name() {
        let rows = rows(vec![
            Value::Integer(7),
            Value::Text("a".into()),
            Value::Integer(3),
            Value::Null,
            Value::Boolean(true),
        ]);
        let thing: Thing = rows.first().unwrap().decode().unwrap();
        let expected = Thing {
            id: 7,
            name: "a".into(),
            price: 3.0,
            note: None,
            done: true,
        };
        assert_eq!(thing, expected);
    }

    #[test]
    fn a_row_that_does_not_fit_is_an_error_not_a_panic() {
        let rows = rows(vec![
            Value::Text("seven".into()),
            Value::Text("a".into()),
            Value::Real(1.5),
            Value::Null,
            Value::Boolean(false),
        ]);
        let error = rows.first().unwrap().decode::<Thing>().unwrap_err();
        assert!(matches!(error, Error::Other(m) if m.contains("does not decode")));
    }
}
