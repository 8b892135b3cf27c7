//! The routes `items` declares, relative to its mount point, and their
//! handlers. Their arguments (`Path`, `Query`, `Json`) and replies are typed:
//! the host checks requests against those types before a handler runs.

use std::time::SystemTime;

use berth_sdk::db::{self, Db};
use berth_sdk::{Created, Json, NoContent, Path, Problem, Query, Router};

use crate::schemas::{Item, ItemId, ItemInput, ItemPage, ItemPatch, Pagination};
use crate::{models, service};

pub fn router() -> Router {
    Router::new()
        .post("/", "Create an item", create)
        .get("/", "List items, oldest first", list)
        .get("/{id}", "Read an item", read)
        .put("/{id}", "Replace an item", replace)
        .patch("/{id}", "Change some fields of an item", patch)
        .delete("/{id}", "Delete an item", delete)
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn not_found(id: i64) -> Problem {
    Problem::not_found(&format!("item {id} does not exist"))
}

fn create(Json(input): Json<ItemInput>) -> Result<Created<Item>, Problem> {
    let item = models::insert(&Db, &service::validate(input)?, &now())?;
    Ok(Created::at(item.id, item))
}

fn list(Query(page): Query<Pagination>) -> Result<Json<ItemPage>, Problem> {
    let (items, total) = models::list(&Db, page.limit, page.offset)?;
    let (limit, offset) = (page.limit, page.offset);
    Ok(Json(ItemPage {
        items,
        total,
        limit,
        offset,
    }))
}

fn read(Path(ItemId { id }): Path<ItemId>) -> Result<Json<Item>, Problem> {
    Ok(Json(models::find(&Db, id)?.ok_or_else(|| not_found(id))?))
}

fn replace(
    Path(ItemId { id }): Path<ItemId>,
    Json(input): Json<ItemInput>,
) -> Result<Json<Item>, Problem> {
    let item = models::update(&Db, id, &service::validate(input)?, &now())?;
    Ok(Json(item.ok_or_else(|| not_found(id))?))
}

fn patch(
    Path(ItemId { id }): Path<ItemId>,
    Json(patch): Json<ItemPatch>,
) -> Result<Json<Item>, Problem> {
    // Read and write in one transaction so that concurrent patches of the
    // same item do not lose each other's changes.
    let item = db::transaction(|tx| {
        let current = models::find(tx, id)?.ok_or_else(|| not_found(id))?;
        let input = service::apply_patch(current.into(), patch)?;
        models::update(tx, id, &input, &now())?.ok_or_else(|| not_found(id))
    })?;
    Ok(Json(item))
}

fn delete(Path(ItemId { id }): Path<ItemId>) -> Result<NoContent, Problem> {
    models::delete(&Db, id)?
        .then_some(NoContent)
        .ok_or_else(|| not_found(id))
}
