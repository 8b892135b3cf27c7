"""The `notes` table: its migrations and the SQL that reads and writes it."""

from typing import Optional

from berth import Migration

from .schemas import Note

MIGRATIONS = [
    Migration(1, "create notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"),
]


def insert(ex, text: str) -> Note:
    return ex.query_one("INSERT INTO notes (text) VALUES ($1) RETURNING id, text", [text], into=Note)


def find(ex, note_id: int) -> Optional[Note]:
    return ex.query_one("SELECT id, text FROM notes WHERE id = $1", [note_id], into=Note)
