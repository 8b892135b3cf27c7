//! `hello`: the smallest berth service. `GET /hello/{name}` greets with the
//! deployment's `greeting` setting; no database.

mod routes;
mod service;

use berth_sdk::{Manifest, Problem, Request, Response, Service, Setting};

struct Hello;

impl Service for Hello {
    fn describe() -> Manifest {
        Manifest {
            name: "hello".into(),
            version: service::VERSION.into(),
            description: "Greets by name.".into(),
            routes: routes::router().describe(),
            migrations: Vec::new(),
            settings: vec![Setting::new(
                "greeting",
                "The word the greeting starts with",
                Some(service::DEFAULT_GREETING),
            )],
            capabilities: Vec::new(),
        }
    }

    fn handle(request: Request) -> Result<Response, Problem> {
        routes::router().dispatch(&request)
    }
}

berth_sdk::export!(Hello);
