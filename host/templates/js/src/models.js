// The `notes` table: its migrations and the SQL that reads and writes it.

export const MIGRATIONS = [
  { version: 1, name: 'create notes', sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)' },
];

/** A row as answered: ids read back as numbers. */
const note = (row) => row && { id: Number(row.id), text: row.text };

export const insert = (ex, text) => note(ex.first('INSERT INTO notes (text) VALUES ($1) RETURNING id, text', [text]));

export const find = (ex, id) => note(ex.first('SELECT id, text FROM notes WHERE id = $1', [id]));
