//! Typed values between the WIT `database` interface and sqlx.

use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::bindings::berth::service::database::{Error, Rows, Value};

pub type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

pub fn bind_sqlite(query: SqliteQuery<'_>, params: Vec<Value>) -> SqliteQuery<'_> {
    params.into_iter().fold(query, |query, value| match value {
        Value::Null => query.bind(None::<i64>),
        Value::Integer(i) => query.bind(i),
        Value::Real(r) => query.bind(r),
        Value::Text(t) => query.bind(t),
        Value::Blob(b) => query.bind(b),
        Value::Boolean(b) => query.bind(b),
    })
}

/// Converts rows by the storage class of each value (SQLite is dynamically
/// typed), reading integers in a column declared `BOOLEAN` as booleans so
/// that services see what PostgreSQL would give them.
pub fn sqlite_rows(rows: &[SqliteRow]) -> Result<Rows, Error> {
    let Some(first) = rows.first() else {
        return Ok(Rows {
            columns: Vec::new(),
            rows: Vec::new(),
        });
    };
    let columns: Vec<String> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let boolean: Vec<bool> = first
        .columns()
        .iter()
        .map(|c| c.type_info().name().eq_ignore_ascii_case("BOOLEAN"))
        .collect();
    let rows = rows
        .iter()
        .map(|row| {
            (0..columns.len())
                .map(|i| sqlite_value(row, i, boolean[i]))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rows { columns, rows })
}

fn sqlite_value(row: &SqliteRow, i: usize, boolean: bool) -> Result<Value, Error> {
    let decode = |e: sqlx::Error| Error::Other(format!("cannot read column {i}: {e}"));
    let raw = row.try_get_raw(i).map_err(decode)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let class = raw.type_info().name().to_string();
    Ok(match class.as_str() {
        "INTEGER" if boolean => {
            Value::Boolean(row.try_get_unchecked::<i64, _>(i).map_err(decode)? != 0)
        }
        "INTEGER" => Value::Integer(row.try_get_unchecked(i).map_err(decode)?),
        "REAL" => Value::Real(row.try_get_unchecked(i).map_err(decode)?),
        "TEXT" => Value::Text(row.try_get_unchecked(i).map_err(decode)?),
        _ => Value::Blob(row.try_get_unchecked(i).map_err(decode)?),
    })
}
