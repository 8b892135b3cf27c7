//! The routes `hello` declares, relative to its mount point.

use berth_sdk::{Method, Problem, Request, Response, Router, log, settings};

use crate::service::{self, Greeting};

pub fn router() -> Router {
    Router::new()
        .route(Method::Get, "/", "Greet the world", 200, greet_world)
        .returns::<Greeting>()
        .route(Method::Get, "/{name}", "Greet someone by name", 200, greet)
        .returns::<Greeting>()
}

fn greet_world(_: &Request) -> Result<Response, Problem> {
    respond("world")
}

fn greet(request: &Request) -> Result<Response, Problem> {
    respond(request.param("name").unwrap_or_default())
}

fn respond(name: &str) -> Result<Response, Problem> {
    let greeting = settings::get("greeting");
    let greeting = service::greet(greeting.as_deref(), name)?;
    // A line for the operator's live log (`berth logs hello`).
    log::log(
        log::Level::Info,
        "greeted",
        &[("version".into(), greeting.version.clone())],
    );
    Ok(Response::json(200, &greeting))
}
