//! The `notes` table: its migrations and the SQL that reads and writes it.

use berth_sdk::Migration;
use berth_sdk::database::Error;
use berth_sdk::db::Executor;

use crate::schemas::Note;

pub fn migrations() -> Vec<Migration> {
    vec![Migration::new(
        1,
        "create notes",
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    )]
}

pub fn insert(db: &impl Executor, text: &str) -> Result<Note, Error> {
    let sql = "INSERT INTO notes (text) VALUES ($1) RETURNING id, text";
    db.query_one_as(sql, &[text.into()])?
        .ok_or_else(|| Error::Other("INSERT … RETURNING returned no row".into()))
}

pub fn find(db: &impl Executor, id: i64) -> Result<Option<Note>, Error> {
    db.query_one_as("SELECT id, text FROM notes WHERE id = $1", &[id.into()])
}
