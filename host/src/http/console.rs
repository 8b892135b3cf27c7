//! `/console`: the operators' web page, served only with the admin API, on
//! the operator's listener (see `plane`). The page and its assets are
//! static, hold no data and need no token; all they show comes from the
//! admin API, which the page calls with the token the operator enters, sent
//! as an `Authorization` header and kept in the page's memory only (never
//! a URL, a cookie or browser storage). Plain HTML, CSS and JavaScript
//! written for berth: no framework, nothing from another origin.

use axum::extract::Path;
use axum::response::Response;

use super::error::ApiError;
use super::page::respond;

/// Stricter than `/docs`: no inline style either, and nothing but berth.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The assets under `/console/`, by file name: (content type, bytes).
fn asset(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "console.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/console/console.js"),
        ),
        "console.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../assets/console/console.css"),
        ),
        "favicon.svg" => (
            "image/svg+xml",
            include_bytes!("../../assets/console/favicon.svg"),
        ),
        _ => return None,
    })
}

/// `GET /console`.
pub async fn page() -> Response {
    respond(
        "text/html; charset=utf-8",
        include_bytes!("../../assets/console/console.html"),
        "no-cache",
        PAGE_POLICY,
    )
}

/// `GET /console/{file}`.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (content_type, bytes) =
        asset(&name).ok_or_else(|| ApiError::NotFound(format!("/console/{name}")))?;
    // Revalidated on every load: the console must never run an old script
    // against a newer admin API.
    Ok(respond(content_type, bytes, "no-cache", PAGE_POLICY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_assets_the_binary_serves() {
        let page =
            std::str::from_utf8(include_bytes!("../../assets/console/console.html")).unwrap();
        for reference in page
            .split(['"', '\''])
            .filter(|s| s.starts_with("/console/") || s.contains("://"))
        {
            let name = reference.strip_prefix("/console/").unwrap_or(reference);
            assert!(asset(name).is_some(), "{reference} is not served");
        }
        assert!(!page.contains("<script>"), "no inline script");
        assert!(!page.contains("style="), "no inline style");
    }
}
