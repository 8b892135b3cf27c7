//! Standard `wasi:http/proxy` components in the deploy pipeline. They cannot
//! describe themselves, so the host writes their manifest: the name they
//! are deployed under, their digest as version, the routes the operator
//! configured (`config::components`, every path by default) and outbound
//! HTTP when the operator allow-listed hosts for them. From there they go
//! through the same checks, gates, limits and swap as any service.

use crate::bindings::{Capability, Manifest, Method, Route};
use crate::config::policy::DeploymentConfig;

pub fn manifest(name: &str, digest: &str, config: &DeploymentConfig) -> Manifest {
    let routes = config
        .component
        .routes
        .iter()
        .map(|route| {
            let operation = config.component.operation(&route.method, &route.template);
            Route {
                method: Method::from_http(&route.method),
                path: route.template.clone(),
                summary: operation
                    .and_then(|o| o.get("summary"))
                    .and_then(|s| s.as_str())
                    .unwrap_or_default()
                    .to_string(),
                success_status: 200,
                request_schema: None,
                response_schema: None,
                params: Vec::new(),
            }
        })
        .collect();
    Manifest {
        name: name.to_string(),
        version: format!("sha256:{}", &digest[..digest.len().min(12)]),
        description: "A standard wasi:http/proxy component.".into(),
        routes,
        migrations: Vec::new(),
        settings: Vec::new(),
        capabilities: if config.outbound.is_empty() {
            Vec::new()
        } else {
            vec![Capability::OutboundHttp]
        },
    }
}
