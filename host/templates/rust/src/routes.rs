//! The routes, relative to the service's mount point (`/{{name}}`), and their
//! typed handlers.

use berth_sdk::db::Db;
use berth_sdk::{Created, Json, Path, Problem, Router};

use crate::schemas::{Note, NoteId, NoteInput};
use crate::{models, service};

pub fn router() -> Router {
    Router::new()
        .post("/", "Write a note", create)
        .get("/{id}", "Read a note", read)
}

fn create(Json(input): Json<NoteInput>) -> Result<Created<Note>, Problem> {
    let note = models::insert(&Db, &service::tidy(&input.text)?)?;
    Ok(Created::at(note.id, note))
}

fn read(Path(NoteId { id }): Path<NoteId>) -> Result<Json<Note>, Problem> {
    let note = models::find(&Db, id)?;
    Ok(Json(note.ok_or_else(|| Problem::not_found(&format!("note {id} does not exist")))?))
}
