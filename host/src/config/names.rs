//! The rules for names and paths, in one leaf module that everything else
//! may use: service and tenant names, the default tenant, route templates
//! and mount prefixes, and the one list of paths the host serves itself
//! (which no service may be mounted over, and no tenant may be called in
//! path tenancy).

/// The tenant used while multi-tenancy is off.
pub const DEFAULT_TENANT: &str = "default";

/// Where the admin API is mounted.
pub const ADMIN_PREFIX: &str = "/admin";

/// The operators' web page, served with the admin API.
pub const CONSOLE_PATH: &str = "/console";

/// Paths the host serves itself; `http::router` serves exactly these (a
/// test checks it, and `tests/api` requests each through the real server).
pub const RESERVED_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    ADMIN_PREFIX,
    CONSOLE_PATH,
];

/// Service names are identifiers safe as path segments, file names and
/// PostgreSQL identifiers.
pub fn validate_service_name(name: &str) -> Result<(), String> {
    if is_identifier(name) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid service name (lower-case letters, digits and `-`, starting with a letter, at most 63 characters)"
        ))
    }
}

/// Tenant names are identifiers like service names, and none of the host's
/// own paths.
pub fn validate_tenant(name: &str) -> Result<(), String> {
    if !is_identifier(name) {
        return Err(format!(
            "`{name}` is not a valid tenant name (lower-case letters, digits and `-`, starting with a letter, at most 63 characters)"
        ));
    }
    if RESERVED_PATHS.iter().any(|p| p[1..] == *name) {
        return Err(format!("`{name}` is reserved"));
    }
    Ok(())
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a route template a service declares.
pub fn validate_template(template: &str) -> Result<(), String> {
    if !template.starts_with('/') {
        return Err("it must start with `/`".into());
    }
    if template.len() > 1 && template.ends_with('/') {
        return Err("it must not end with `/`".into());
    }
    if template.contains("//") || template.contains('?') || template.contains('#') {
        return Err("it must not contain `//`, `?` or `#`".into());
    }
    Ok(())
}

/// Checks a mount prefix an operator configures.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    validate_template(prefix)?;
    if prefix.contains(['{', '}']) {
        return Err("a prefix cannot hold parameters".into());
    }
    if let Some(reserved) = RESERVED_PATHS
        .iter()
        .find(|r| prefix == **r || prefix.starts_with(&format!("{r}/")))
    {
        return Err(format!("{reserved} is served by the host itself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_and_tenant_names_are_identifiers() {
        for good in ["items", "hello", "a", "user-profiles2"] {
            assert!(validate_service_name(good).is_ok(), "{good}");
            assert!(validate_tenant(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Items",
            "1items",
            "-x",
            "a_b",
            "../etc",
            "a/b",
            &"x".repeat(64),
        ] {
            assert!(validate_service_name(bad).is_err(), "{bad}");
            assert!(validate_tenant(bad).is_err(), "{bad}");
        }
        for reserved in ["admin", "healthz", "metrics", "docs"] {
            assert!(validate_tenant(reserved).unwrap_err().contains("reserved"));
        }
    }

    #[test]
    fn prefixes_stay_clear_of_the_hosts_paths() {
        assert!(validate_prefix("/admin").is_err());
        assert!(validate_prefix("/admin/x").is_err());
        assert!(validate_prefix("/administration").is_ok());
        assert!(validate_prefix("/a/{b}").is_err());
        assert!(validate_template("items").is_err());
        assert!(validate_template("/items/").is_err());
    }
}
