//! Per-installation secrets kept in the host's database: created once (by
//! whichever replica gets there first), the same for every replica after.

use super::host::{HostDb, on_pool};

/// A 256-bit key, as hex.
pub type Key = [u8; 32];

fn random_key() -> Key {
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(16) {
        chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    key
}

impl HostDb {
    /// The secret called `name`, created on first use.
    pub async fn secret(&self, name: &str) -> Result<Key, sqlx::Error> {
        let fresh = hex::encode(random_key());
        let stored: String = on_pool!(self, pool => {
            sqlx::query("INSERT INTO host_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(&fresh)
                .execute(pool)
                .await?;
            sqlx::query_scalar("SELECT value FROM host_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await?
        });
        let bytes = hex::decode(&stored)
            .map_err(|e| sqlx::Error::Decode(format!("secret {name} is not hex: {e}").into()))?;
        Key::try_from(bytes.as_slice())
            .map_err(|_| sqlx::Error::Decode(format!("secret {name} is not 32 bytes").into()))
    }
}
