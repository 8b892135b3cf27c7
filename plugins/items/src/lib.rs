//! `items`: the example service (the FastAPI seed's `example_service`).
//! A CRUD API over items stored in the service's own database.
//!
//! The layout follows the seed: `models` (table and migrations), `schemas`
//! (request and response types with their validation), `routes` (what the
//! service serves) and `service` (business logic, unit-tested natively).

mod models;
mod routes;
mod schemas;
mod service;

use berth_sdk::{Capability, Manifest, Problem, Request, Response, Service};

struct Items;

impl Service for Items {
    fn describe() -> Manifest {
        Manifest {
            name: "items".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Create, read, update, delete and list items.".into(),
            routes: routes::router().describe(),
            migrations: models::migrations(),
            settings: Vec::new(),
            capabilities: vec![Capability::Database],
        }
    }

    fn handle(request: Request) -> Result<Response, Problem> {
        routes::router().dispatch(&request)
    }
}

berth_sdk::export!(Items);
