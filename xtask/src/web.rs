//! The checks of berth as outside tools see it (`tests/web/run.py`): `/docs`
//! and the operators' `/console` (`tests/web/console.py`) in headless
//! Chromium with no outside network, and schemathesis against
//! `/openapi.json`, all against a real berth serving the example services.
//!
//! The Python tools are pinned in a venv under `<toolchains>/web/`,
//! reinstalled when the pins change. Chromium and its driver are Debian's
//! `chromium` and `chromium-driver`: installed with apt-get when missing
//! and this user may (root, or password-less sudo); otherwise the check
//! fails saying how to install them.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::{Outputs, Result, status};

/// Selenium drives the browser; schemathesis tests the API from its schema.
/// (selenium 4.41 and later need a certifi newer than PyPI mirrors here
/// carry.)
const TOOLS: &[&str] = &["selenium==4.40.0", "schemathesis==4.32.5"];
const BROWSER: &str = "/usr/bin/chromium";
const DRIVER: &str = "/usr/bin/chromedriver";

pub fn check(outputs: &Outputs, berth: &Path) -> Result {
    ensure_browser()?;
    let venv = outputs.toolchains.join("web");
    let stamp = venv.join("pins.txt");
    let pins = TOOLS.join("\n");
    if !fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        eprintln!(
            "xtask: installing {} into {}",
            TOOLS.join(", "),
            venv.display()
        );
        status(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        status(
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(TOOLS),
        )?;
        fs::write(&stamp, &pins).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    }
    status(
        Command::new(venv.join("bin").join("python"))
            .arg(outputs.root.join("tests/web/run.py"))
            .arg("--berth")
            .arg(berth)
            .arg("--components")
            .arg(outputs.examples.parent().unwrap_or(&outputs.examples)),
    )
}

fn ensure_browser() -> Result {
    if Path::new(BROWSER).exists() && Path::new(DRIVER).exists() {
        return Ok(());
    }
    let how = "install Debian's chromium and chromium-driver (`sudo apt-get install chromium chromium-driver`)";
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut install = if root {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.args(["-n", "apt-get"]);
        sudo
    };
    install
        .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    eprintln!("xtask: the browser checks need Chromium: running {install:?}");
    status(&mut install).map_err(|e| format!("{e}; {how}"))?;
    if Path::new(BROWSER).exists() && Path::new(DRIVER).exists() {
        Ok(())
    } else {
        Err(format!("{BROWSER} or {DRIVER} is still missing: {how}"))
    }
}
