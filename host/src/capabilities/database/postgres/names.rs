//! The schema and login role of each namespace. Both come from a keyed hash
//! of (database, tenant, service): one-to-one (the parts are joined with a
//! byte no name can contain, and the hash is collision-resistant; the
//! records' unique constraints catch the impossible), and unguessable, so
//! that no tenant can name or target another's role or schema, nor learn
//! other tenants' names from the catalogs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::db::secrets::Key;

/// The name of the secret the names are derived with.
pub const NAMES_SECRET: &str = "namespace_names";

/// The prefix of every role berth creates for `database` (roles are shared
/// by every database of a server).
pub fn role_prefix(database: &str) -> String {
    format!(
        "berth_{}_",
        &hex::encode(Sha256::digest(database.as_bytes()))[..8]
    )
}

/// The schema and role of `tenant` × `service` in `database`.
pub fn names(key: &Key, database: &str, tenant: &str, service: &str) -> (String, String) {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in ["berth-namespace", database, tenant, service] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    let tag = hex::encode(&mac.finalize().into_bytes()[..16]);
    (
        format!("ns_{tag}"),
        format!("{}{tag}", role_prefix(database)),
    )
}

/// The names berth used before they were keyed: readable, but `-` and `_`
/// collapsed, so that `a--b`/`c` and `a`/`b--c` met in one schema. Kept to
/// find and rename namespaces made that way.
pub fn legacy_names(database: &str, tenant: &str, service: &str) -> (String, String) {
    let readable = format!(
        "{}__{}",
        tenant.replace('-', "_"),
        service.replace('-', "_")
    );
    let hash = hex::encode(Sha256::digest(
        format!("{database}\0{tenant}\0{service}").as_bytes(),
    ));
    let schema = if readable.len() <= 63 {
        readable.clone()
    } else {
        format!("ns_{}", &hash[..40])
    };
    let role = format!("{}{readable}", role_prefix(database));
    let role = if role.len() <= 63 {
        role
    } else {
        format!("{}{}", role_prefix(database), &hash[..40])
    };
    (schema, role)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const KEY: Key = [7; 32];

    #[test]
    fn adversarial_pairs_get_names_of_their_own() {
        let long = "x".repeat(63);
        let pairs = [
            ("a--b", "c"),
            ("a", "b--c"),
            ("a-b", "c"),
            ("a", "b-c"),
            ("ab", "c"),
            ("a", "bc"),
            ("a-", "-b"),
            ("a", "-b"),
            ("a-", "b"),
            ("default", "items"),
            ("items", "default"),
            (long.as_str(), long.as_str()),
            (long.as_str(), "x"),
            ("x", long.as_str()),
        ];
        let mut seen: HashMap<String, (&str, &str)> = HashMap::new();
        for database in ["test", "other"] {
            for &(tenant, service) in &pairs {
                let (schema, role) = names(&KEY, database, tenant, service);
                assert!(schema.len() <= 63 && role.len() <= 63, "{schema} {role}");
                assert!(role.starts_with(&role_prefix(database)));
                for name in [schema, role] {
                    if let Some(other) =
                        seen.insert(format!("{database}/{name}"), (tenant, service))
                    {
                        panic!("{tenant}/{service} and {other:?} share {name}");
                    }
                }
            }
        }
        // The old scheme is exactly what this replaces.
        assert_eq!(
            legacy_names("t", "a--b", "c"),
            legacy_names("t", "a", "b--c")
        );
    }

    #[test]
    fn names_depend_on_the_key_and_reveal_nothing_readable() {
        let (schema, role) = names(&KEY, "test", "acme", "items");
        assert_ne!(
            (schema.clone(), role.clone()),
            names(&[8; 32], "test", "acme", "items")
        );
        assert!(!schema.contains("acme") && !role.contains("items"));
        assert_eq!((schema, role), names(&KEY, "test", "acme", "items"));
    }
}
