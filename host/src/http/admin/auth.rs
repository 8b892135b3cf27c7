//! Who may call the admin API: the admin token reaches every tenant; a
//! tenant's operator token (`[tenants.<t>] admin_token`) reaches that
//! tenant alone. Tokens come in the `Authorization: Bearer` header only
//! and are compared as digests, in constant time.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Secret;
use crate::config::names::DEFAULT_TENANT;
use crate::http::error::ApiError;

/// Who a request's token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The admin token: every tenant.
    Admin,
    /// A tenant's operator token: that tenant only.
    Tenant(String),
}

impl Operator {
    /// Whether it may call `method path` (the path under `/admin`): a
    /// tenant's operator reaches `/tenants/<its name>/…` (and the default
    /// tenant's the unprefixed paths) and the list of tenants, which shows
    /// it its own; never another tenant, nor creating or deleting tenants.
    fn may(&self, method: &http::Method, path: &str) -> bool {
        let Operator::Tenant(tenant) = self else {
            return true;
        };
        if path == "/tenants" {
            return method == http::Method::GET;
        }
        let own = path
            .strip_prefix("/tenants/")
            .and_then(|rest| rest.strip_prefix(tenant.as_str()))
            .is_some_and(|rest| rest.starts_with('/'));
        let default_paths =
            tenant == DEFAULT_TENANT && (path.starts_with("/services") || path == "/history");
        own || default_paths
    }

    pub(super) fn sees(&self, tenant: &str) -> bool {
        match self {
            Operator::Admin => true,
            Operator::Tenant(own) => own == tenant,
        }
    }
}

/// The digests of the tokens the admin API accepts.
pub struct Tokens {
    admin: [u8; 32],
    tenants: Vec<([u8; 32], String)>,
}

impl Tokens {
    pub fn new(admin: &Secret, tenants: Vec<(String, Secret)>) -> Tokens {
        Tokens {
            admin: digest_of(admin.expose()),
            tenants: tenants
                .into_iter()
                .map(|(tenant, token)| (digest_of(token.expose()), tenant))
                .collect(),
        }
    }
}

fn digest_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

impl Tokens {
    /// Who the request's `Authorization: Bearer` token speaks for, if
    /// anyone.
    pub fn operator(&self, headers: &http::HeaderMap) -> Option<Operator> {
        let digest = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(digest_of)?;
        // Comparing digests keeps both the time and the length of each
        // comparison independent of the token; every token is compared.
        let mut operator = None;
        if bool::from(digest.ct_eq(&self.admin)) {
            operator = Some(Operator::Admin);
        }
        for (tenant_digest, tenant) in &self.tenants {
            if bool::from(digest.ct_eq(tenant_digest)) && operator.is_none() {
                operator = Some(Operator::Tenant(tenant.clone()));
            }
        }
        operator
    }
}

pub(super) async fn authorize(expected: &Tokens, mut request: Request, next: Next) -> Response {
    let Some(operator) = expected.operator(request.headers()) else {
        return ApiError::Unauthorized.into_response();
    };
    if !operator.may(request.method(), request.uri().path()) {
        let Operator::Tenant(tenant) = &operator else {
            unreachable!("the admin may do anything")
        };
        return ApiError::Forbidden(format!(
            "this token is tenant `{tenant}`'s: it reaches only /admin/tenants/{tenant}/…"
        ))
        .into_response();
    }
    request.extensions_mut().insert(operator);
    next.run(request).await
}
