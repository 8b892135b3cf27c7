//! The routes `items` declares, relative to its mount point, and their
//! handlers: parse, call the business logic, read or write the model, answer.

use std::time::SystemTime;

use berth_sdk::db::{self, Db};
use berth_sdk::{Method, Problem, Request, Response, Router};

use crate::schemas::{Item, ItemInput, ItemPage, ItemPatch};
use crate::{models, service};

pub fn router() -> Router {
    Router::new()
        .route(Method::Post, "/", "Create an item", 201, create)
        .accepts::<ItemInput>()
        .returns::<Item>()
        .route(Method::Get, "/", "List items, oldest first", 200, list)
        .returns::<ItemPage>()
        .route(Method::Get, "/{id}", "Read an item", 200, read)
        .returns::<Item>()
        .route(Method::Put, "/{id}", "Replace an item", 200, replace)
        .accepts::<ItemInput>()
        .returns::<Item>()
        .route(
            Method::Patch,
            "/{id}",
            "Change some fields of an item",
            200,
            patch,
        )
        .accepts::<ItemPatch>()
        .returns::<Item>()
        .route(Method::Delete, "/{id}", "Delete an item", 204, delete)
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn not_found(id: i64) -> Problem {
    Problem::not_found(&format!("item {id} does not exist"))
}

fn create(request: &Request) -> Result<Response, Problem> {
    let input = service::validate(request.json::<ItemInput>()?)?;
    let item = models::insert(&Db, &input, &now())?;
    let location = format!("{}/{}", request.path.trim_end_matches('/'), item.id);
    Ok(Response::json(201, &item).with_header("location", &location))
}

fn list(request: &Request) -> Result<Response, Problem> {
    let (limit, offset) =
        service::pagination(request.query_param("limit"), request.query_param("offset"))?;
    let (items, total) = models::list(&Db, limit, offset)?;
    Ok(Response::json(
        200,
        &ItemPage {
            items,
            total,
            limit,
            offset,
        },
    ))
}

fn read(request: &Request) -> Result<Response, Problem> {
    let id = service::parse_id(request.param("id"))?;
    let item = models::find(&Db, id)?.ok_or_else(|| not_found(id))?;
    Ok(Response::json(200, &item))
}

fn replace(request: &Request) -> Result<Response, Problem> {
    let id = service::parse_id(request.param("id"))?;
    let input = service::validate(request.json::<ItemInput>()?)?;
    let item = models::update(&Db, id, &input, &now())?.ok_or_else(|| not_found(id))?;
    Ok(Response::json(200, &item))
}

fn patch(request: &Request) -> Result<Response, Problem> {
    let id = service::parse_id(request.param("id"))?;
    let patch = request.json::<ItemPatch>()?;
    // Read and write in one transaction so that concurrent patches of the
    // same item do not lose each other's changes.
    let item = db::transaction(|tx| {
        let current = models::find(tx, id)?.ok_or_else(|| not_found(id))?;
        let current = ItemInput {
            name: current.name,
            description: current.description,
            price: current.price,
            quantity: current.quantity,
        };
        let input = service::apply_patch(current, patch)?;
        models::update(tx, id, &input, &now())?.ok_or_else(|| not_found(id))
    })?;
    Ok(Response::json(200, &item))
}

fn delete(request: &Request) -> Result<Response, Problem> {
    let id = service::parse_id(request.param("id"))?;
    if models::delete(&Db, id)? {
        Ok(Response::empty(204))
    } else {
        Err(not_found(id))
    }
}
