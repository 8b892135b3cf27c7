//! `{{name}}`: a berth service in the seed's layout: `models` (its table and
//! migrations), `schemas` (request and response types), `routes` (what it
//! serves) and `service` (business logic, unit-tested natively).

mod models;
mod routes;
mod schemas;
mod service;

use berth_sdk::{Capability, Manifest, Problem, Request, Response, Service};

struct App;

impl Service for App {
    fn describe() -> Manifest {
        Manifest {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Notes: write one, read it back.".into(),
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

berth_sdk::export!(App);
