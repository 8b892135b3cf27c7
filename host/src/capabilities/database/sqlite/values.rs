//! Typed values between the WIT `database` interface and sqlx, and the
//! bounded reading of result rows.

use futures_util::TryStreamExt as _;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteRow};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::capabilities::database::backend::{ResultLimits, RowCollector};
use crate::capabilities::database::errors::guest_error;

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

/// Reads rows from `stream` until it ends or a limit is passed; then stops
/// reading (the statement is abandoned) and reports which limit.
pub async fn read_sqlite_rows<'e>(
    mut stream: impl futures_util::Stream<Item = Result<SqliteRow, sqlx::Error>> + Unpin + 'e,
    limits: ResultLimits,
) -> Result<Rows, Error> {
    let mut rows = RowCollector::new(limits);
    let mut boolean: Vec<bool> = Vec::new();
    while let Some(row) = stream.try_next().await.map_err(guest_error)? {
        if rows.first_row(|| row.columns().iter().map(|c| c.name().to_string()).collect()) {
            boolean = row
                .columns()
                .iter()
                .map(|c| c.type_info().name().eq_ignore_ascii_case("BOOLEAN"))
                .collect();
        }
        rows.room()?;
        let values = (0..rows.columns())
            .map(|i| sqlite_value(&row, i, boolean[i]))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(values)?;
    }
    Ok(rows.finish())
}

/// Converts by the storage class of each value (SQLite is dynamically
/// typed), reading integers in a column declared `BOOLEAN` as booleans so
/// that services see what PostgreSQL would give them.
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
