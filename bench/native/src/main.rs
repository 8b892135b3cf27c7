//! The same `hello` and `items` as berth's example services, written as a
//! plain axum + sqlx server: what the benchmark measures berth against.
//! `LISTEN` and `DATABASE_URL` (sqlite:… or postgres://…) configure it.

use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row};

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool this server uses.
macro_rules! with_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Clone)]
struct AppState {
    db: Db,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemInput {
    name: String,
    #[serde(default)]
    description: Option<String>,
    price: f64,
    #[serde(default)]
    quantity: u32,
}

#[derive(Serialize, sqlx::FromRow)]
struct Item {
    id: i64,
    name: String,
    description: Option<String>,
    price: f64,
    quantity: i64,
    created_at: String,
    updated_at: String,
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: Option<u64>,
}

const COLUMNS: &str = "id, name, description, price, quantity, created_at, updated_at";

fn problem(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn validate(input: &ItemInput) -> Result<(), Box<Response>> {
    let chars = input.name.trim().chars().count();
    if chars == 0 || chars > 100 {
        return Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "name must be 1 to 100 characters",
        )));
    }
    if !input.price.is_finite() || input.price < 0.0 {
        return Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "price must be zero or more",
        )));
    }
    Ok(())
}

async fn hello(Path(name): Path<String>) -> Json<serde_json::Value> {
    Json(json!({"message": format!("Hello, {name}!"), "version": "1.0.0"}))
}

async fn create(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let input: ItemInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_error",
                &e.to_string(),
            );
        }
    };
    if let Err(response) = validate(&input) {
        return *response;
    }
    let now = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let sql = format!(
        "INSERT INTO items (name, description, price, quantity, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING {COLUMNS}"
    );
    let created: Result<Item, sqlx::Error> = with_db!(&state.db, pool => sqlx::query_as(AssertSqlSafe(sql))
        .bind(input.name.trim().to_string())
        .bind(input.description)
        .bind(input.price)
        .bind(i64::from(input.quantity))
        .bind(now)
        .fetch_one(pool)
        .await);
    match created {
        Ok(item) => {
            let location = format!("/items/{}", item.id);
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(item),
            )
                .into_response()
        }
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            &e.to_string(),
        ),
    }
}

async fn read(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let sql = format!("SELECT {COLUMNS} FROM items WHERE id = $1");
    let found: Result<Option<Item>, sqlx::Error> = with_db!(&state.db, pool => sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await);
    match found {
        Ok(Some(item)) => Json(item).into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("item {id} does not exist"),
        ),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            &e.to_string(),
        ),
    }
}

async fn list(State(state): State<AppState>, Query(page): Query<Page>) -> Response {
    let limit = page.limit.unwrap_or(20);
    let offset = page.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            "limit must be 1 to 100",
        );
    }
    let sql = format!("SELECT {COLUMNS} FROM items ORDER BY id LIMIT $1 OFFSET $2");
    let page: Result<(Vec<Item>, i64), sqlx::Error> = with_db!(&state.db, pool => async {
        let items = sqlx::query_as(AssertSqlSafe(sql))
            .bind(i64::from(limit))
            .bind(offset as i64)
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query("SELECT COUNT(*) AS total FROM items").fetch_one(pool).await?.get("total");
        Ok((items, total))
    }.await);
    match page {
        Ok((items, total)) => Json(json!({
            "items": items,
            "total": total,
            "limit": limit,
            "offset": offset,
        }))
        .into_response(),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            &e.to_string(),
        ),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://native-bench.db".into());
    // The same pool size and SQLite tuning as berth's namespaces.
    let db = if url.starts_with("postgres") {
        Db::Postgres(
            PgPoolOptions::new()
                .max_connections(4)
                .connect(&url)
                .await?,
        )
    } else {
        let options = url
            .parse::<SqliteConnectOptions>()?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        Db::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await?,
        )
    };
    let ddl = match &db {
        Db::Postgres(_) => {
            "CREATE TABLE IF NOT EXISTS items (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT NOT NULL, description TEXT, price DOUBLE PRECISION NOT NULL CHECK (price >= 0), quantity BIGINT NOT NULL DEFAULT 0 CHECK (quantity >= 0), created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        }
        Db::Sqlite(_) => {
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, description TEXT, price REAL NOT NULL CHECK (price >= 0), quantity INTEGER NOT NULL DEFAULT 0 CHECK (quantity >= 0), created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
        }
    };
    with_db!(&db, pool => sqlx::raw_sql(ddl).execute(pool).await.map(drop))?;
    let app = Router::new()
        .route("/hello/{name}", get(hello))
        .route("/items", get(list).post(create))
        .route("/items/{id}", get(read))
        .with_state(AppState { db });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
