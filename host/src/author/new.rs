//! `berth new <name> [--lang rust|python|js]`: a service in the seed's
//! layout (models, schemas, routes, service, one unit test) that builds and
//! passes its test as written. It depends on the berth SDK of the checkout
//! this binary was built from (or `BERTH_SDK_DIR`): the SDKs are not
//! published to a registry yet.

use std::fs;
use std::path::{Path, PathBuf};

use berth_toolchain::Sources;

use super::Lang;
use crate::config::names::validate_service_name;

/// The template files of each language: (path in the new service, text).
/// `{{name}}`, `{{module}}`, `{{sdk}}` and `{{sdk_note}}` are filled in.
fn template(lang: Lang) -> &'static [(&'static str, &'static str)] {
    macro_rules! files {
        ($lang:literal: $($path:literal => $file:literal),* $(,)?) => {
            &[$(($path, include_str!(concat!("../../templates/", $lang, "/", $file)))),*]
        };
    }
    match lang {
        Lang::Rust => files!("rust":
            "Cargo.toml" => "Cargo.toml",
            "src/lib.rs" => "src/lib.rs",
            "src/models.rs" => "src/models.rs",
            "src/schemas.rs" => "src/schemas.rs",
            "src/routes.rs" => "src/routes.rs",
            "src/service.rs" => "src/service.rs",
        ),
        Lang::Python => files!("python":
            "app.py" => "app.py",
            "{{module}}/__init__.py" => "package/__init__.py",
            "{{module}}/models.py" => "package/models.py",
            "{{module}}/schemas.py" => "package/schemas.py",
            "{{module}}/routes.py" => "package/routes.py",
            "{{module}}/service.py" => "package/service.py",
            "tests/test_service.py" => "tests/test_service.py",
        ),
        Lang::Js => files!("js":
            "package.json" => "package.json",
            "src/index.js" => "src/index.js",
            "src/models.js" => "src/models.js",
            "src/schemas.js" => "src/schemas.js",
            "src/routes.js" => "src/routes.js",
            "src/service.js" => "src/service.js",
            "test/service.test.js" => "test/service.test.js",
        ),
    }
}

/// Writes the service `name` in `lang` into `parent/name`; the files it wrote.
pub fn create(name: &str, lang: Lang, parent: &Path) -> Result<Vec<PathBuf>, String> {
    validate_service_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!(
            "{} already exists; nothing was written",
            dir.display()
        ));
    }
    let sources = Sources::located()?;
    let sdk = match lang {
        Lang::Rust => sources.rust_sdk(),
        Lang::Python => sources.python_sdk(),
        Lang::Js => sources.js_sdk(),
    };
    let sdk_note = format!(
        "the checkout at {}; `berth build` finds it there (or in BERTH_SDK_DIR)",
        sources.root.display()
    );
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{module}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk.display().to_string())
            .replace("{{sdk_note}}", &sdk_note)
    };
    let mut written = Vec::new();
    for (path, text) in template(lang) {
        let path = dir.join(fill(path));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::write(&path, fill(text))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    if lang == Lang::Rust {
        // The versions berth itself is tested with, so that the new crate
        // builds with the same dependencies (cargo drops what it does not use).
        let lock = dir.join("Cargo.lock");
        fs::write(&lock, include_str!("../../../Cargo.lock"))
            .map_err(|e| format!("cannot write {}: {e}", lock.display()))?;
        written.push(lock);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_writes_the_seed_layout_and_refuses_to_overwrite() {
        let parent = tempfile::TempDir::new().unwrap();
        for (lang, name, expected) in [
            (Lang::Rust, "demo-rs", "src/routes.rs"),
            (Lang::Python, "demo-py", "demo_py/routes.py"),
            (Lang::Js, "demo-js", "src/routes.js"),
        ] {
            let written = create(name, lang, parent.path()).unwrap();
            assert!(written.iter().any(|p| p.ends_with(expected)), "{written:?}");
            for path in &written {
                let text = fs::read_to_string(path).unwrap();
                assert!(!text.contains("{{"), "{} is not filled in", path.display());
            }
            assert_eq!(Lang::of(&parent.path().join(name)), Some(lang));
            assert!(create(name, lang, parent.path()).is_err());
        }
        assert!(create("Bad Name", Lang::Rust, parent.path()).is_err());
        assert!(create("../escape", Lang::Rust, parent.path()).is_err());
    }
}
