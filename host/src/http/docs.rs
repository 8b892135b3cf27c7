//! `/docs`: Swagger UI rendering `/openapi.json`, entirely from the binary.
//! The assets are the npm package `swagger-ui-dist` 5.35.0, vendored
//! unchanged under `host/assets/swagger-ui` with its licence, so the page
//! works with no outside network (air-gapped sites, firewalled operators).

use axum::extract::Path;
use axum::response::Response;

use super::error::ApiError;
use super::page::respond;

/// The page may load only what berth itself serves: no inline script, no
/// other origin, no framing. Swagger UI sets `style` attributes and shows
/// `data:` images, hence those two allowances.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The assets under `/docs/`, by file name: (content type, bytes).
fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "swagger-ui-bundle.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        "swagger-ui.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
        ),
        "docs.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/docs.js"),
        ),
        "LICENSE" => (
            "text/plain; charset=utf-8",
            include_bytes!("../../assets/swagger-ui/LICENSE"),
        ),
        _ => return None,
    })
}

/// `GET /docs`.
pub async fn page() -> Response {
    respond(
        "text/html; charset=utf-8",
        include_bytes!("../../assets/docs.html"),
        "no-cache",
        PAGE_POLICY,
    )
}

/// `GET /docs/{file}`.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, bytes) =
        asset(&name).ok_or_else(|| ApiError::NotFound(format!("/docs/{name}")))?;
    // The assets change only with the binary: a day of caching, revalidated
    // by the version-less names after an upgrade.
    Ok(respond(
        content_type,
        bytes,
        "public, max-age=86400",
        PAGE_POLICY,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_assets_the_binary_serves() {
        let page = std::str::from_utf8(include_bytes!("../../assets/docs.html")).unwrap();
        for reference in page
            .split(['"', '\''])
            .filter(|s| s.starts_with("/docs/") || s.contains("://"))
        {
            let name = reference.strip_prefix("/docs/").unwrap_or(reference);
            assert!(asset(name).is_some(), "{reference} is not served");
        }
        assert!(!page.contains("<script>"), "no inline script");
    }
}
