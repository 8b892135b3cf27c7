//! The records of tenants created through the admin API (those in
//! `berth.toml` exist anyway).

use sqlx::Row as _;

use super::host::{HostDb, on_pool};

impl HostDb {
    /// Records a tenant; whether it was new.
    pub async fn create_tenant(&self, name: &str, at: &str) -> Result<bool, sqlx::Error> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO tenants (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(at)
        .execute(pool)
        .await
        .map(|done| done.rows_affected() == 1))
    }

    pub async fn delete_tenant(&self, name: &str) -> Result<(), sqlx::Error> {
        on_pool!(self, pool => sqlx::query("DELETE FROM tenants WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await
            .map(drop))
    }

    pub async fn tenant_names(&self) -> Result<Vec<String>, sqlx::Error> {
        on_pool!(self, pool => Ok(sqlx::query("SELECT name FROM tenants ORDER BY name")
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect()))
    }
}
