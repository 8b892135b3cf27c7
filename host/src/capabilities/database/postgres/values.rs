//! Typed values between the WIT `database` interface and PostgreSQL. Values
//! bind with their natural types; a NULL binds untyped, so that PostgreSQL
//! infers its type from where it is used. Result columns are read by type:
//! integers, floats, booleans, text, bytes, and — as text — JSON, UUIDs,
//! dates and timestamps (RFC 3339, UTC).

use std::time::{Duration, UNIX_EPOCH};

use futures_util::TryStreamExt as _;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgRow, PgTypeInfo, Postgres};
use sqlx::{Column, Row, TypeInfo, ValueRef};

use crate::bindings::berth::service::database::{Error, Rows, Value};
use crate::capabilities::database::backend::{ResultLimits, RowCollector};
use crate::capabilities::database::errors::guest_error;

pub type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// A NULL whose type PostgreSQL infers from its context.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

pub fn bind_pg(query: PgQuery<'_>, params: Vec<Value>) -> PgQuery<'_> {
    params.into_iter().fold(query, |query, value| match value {
        Value::Null => query.bind(UntypedNull),
        Value::Integer(i) => query.bind(i),
        Value::Real(r) => query.bind(r),
        Value::Text(t) => query.bind(t),
        Value::Blob(b) => query.bind(b),
        Value::Boolean(b) => query.bind(b),
    })
}

/// Reads rows until the stream ends or a limit is passed.
pub async fn read_pg_rows<'e>(
    mut stream: impl futures_util::Stream<Item = Result<PgRow, sqlx::Error>> + Unpin + 'e,
    limits: ResultLimits,
) -> Result<Rows, Error> {
    let mut rows = RowCollector::new(limits);
    while let Some(row) = stream.try_next().await.map_err(guest_error)? {
        rows.first_row(|| row.columns().iter().map(|c| c.name().to_string()).collect());
        rows.room()?;
        let values = (0..rows.columns())
            .map(|i| pg_value(&row, i))
            .collect::<Result<Vec<_>, _>>()?;
        rows.push(values)?;
    }
    Ok(rows.finish())
}

/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix seconds.
const PG_EPOCH: u64 = 946_684_800;

fn pg_value(row: &PgRow, i: usize) -> Result<Value, Error> {
    let decode = |e: sqlx::Error| Error::Other(format!("cannot read column {i}: {e}"));
    let raw = row.try_get_raw(i).map_err(decode)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_info = raw.type_info().into_owned();
    let oid = type_info.oid().map_or(0, |o| o.0);
    let bytes = |raw: sqlx::postgres::PgValueRef<'_>| -> Result<Vec<u8>, Error> {
        raw.as_bytes()
            .map(<[u8]>::to_vec)
            .map_err(|e| Error::Other(format!("cannot read column {i}: {e}")))
    };
    Ok(match oid {
        16 => Value::Boolean(row.try_get_unchecked(i).map_err(decode)?),
        20 => Value::Integer(row.try_get_unchecked(i).map_err(decode)?),
        21 => Value::Integer(i64::from(
            row.try_get_unchecked::<i16, _>(i).map_err(decode)?,
        )),
        23 => Value::Integer(i64::from(
            row.try_get_unchecked::<i32, _>(i).map_err(decode)?,
        )),
        26 => Value::Integer(i64::from(
            row.try_get_unchecked::<Oid, _>(i).map_err(decode)?.0,
        )),
        700 => Value::Real(f64::from(
            row.try_get_unchecked::<f32, _>(i).map_err(decode)?,
        )),
        701 => Value::Real(row.try_get_unchecked(i).map_err(decode)?),
        17 => Value::Blob(row.try_get_unchecked(i).map_err(decode)?),
        18 | 19 | 25 | 1042 | 1043 => Value::Text(row.try_get_unchecked(i).map_err(decode)?),
        114 => Value::Text(String::from_utf8_lossy(&bytes(raw)?).into_owned()),
        // JSONB: a version byte, then the text.
        3802 => Value::Text(
            String::from_utf8_lossy(bytes(raw)?.get(1..).unwrap_or_default()).into_owned(),
        ),
        2950 => Value::Text(uuid_text(&bytes(raw)?)),
        1114 | 1184 => Value::Text(timestamp_text(&bytes(raw)?)?),
        1082 => Value::Text(date_text(&bytes(raw)?)?),
        _ => {
            return Err(Error::Other(format!(
                "column {} has type {}, which berth does not convert; cast it to text, bigint or double precision",
                row.columns()[i].name(),
                type_info.name()
            )));
        }
    })
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn timestamp_text(bytes: &[u8]) -> Result<String, Error> {
    let micros = i64::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| Error::Other("bad timestamp".into()))?,
    );
    let unix_micros = i128::from(PG_EPOCH) * 1_000_000 + i128::from(micros);
    let time = u64::try_from(unix_micros)
        .ok()
        .map(|m| UNIX_EPOCH + Duration::from_micros(m))
        .ok_or_else(|| Error::Other("timestamp before 1970".into()))?;
    Ok(humantime::format_rfc3339_micros(time).to_string())
}

fn date_text(bytes: &[u8]) -> Result<String, Error> {
    let days = i32::from_be_bytes(
        bytes
            .try_into()
            .map_err(|_| Error::Other("bad date".into()))?,
    );
    let seconds = i64::from(days) * 86_400 + PG_EPOCH as i64;
    let time = u64::try_from(seconds)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .ok_or_else(|| Error::Other("date before 1970".into()))?;
    let text = humantime::format_rfc3339_seconds(time).to_string();
    Ok(text[..10].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_binary_dates_and_times_become_rfc3339() {
        assert_eq!(
            timestamp_text(&0i64.to_be_bytes()).unwrap(),
            "2000-01-01T00:00:00.000000Z"
        );
        assert_eq!(date_text(&366i32.to_be_bytes()).unwrap(), "2001-01-01");
        assert_eq!(
            uuid_text(&[0x12; 16]),
            "12121212-1212-1212-1212-121212121212"
        );
    }
}
