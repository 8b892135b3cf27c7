"""Checks of berth as outside tools see it, against a real berth serving
the example services of every language (Rust, Python, JavaScript):

- `docs`: headless Chromium (Debian's `chromium` and `chromium-driver`,
  driven by Selenium) with every host but 127.0.0.1 unresolvable loads
  `/docs` and must list the items operations, having fetched nothing from
  anywhere else;
- `console`: the same browser signs in to `/console` (a wrong token first,
  which must get nothing), sees `items` and `hello` with their versions,
  uploads `hello` 2.0.0 and sees it live, rolls it back by keyboard and sees
  1.0.0 again, and watches a request appear in the live log; screenshots at
  1280 and 390 px wide;
- `takeover`: a tenant's service serves a service worker meant to take
  over the console and steal the operator's token (`takeover.py`), in every
  tenancy mode, with the operator's plane on its own listener and on the
  public one: the token never reaches the service;
- `schemathesis`: `schemathesis run /openapi.json --checks all` must find
  no failure.

    python3 tests/web/run.py --berth target/debug/berth \
        --components target/components [--only docs,console,takeover,schemathesis]

`cargo xtask test` runs it (in a venv with the pinned tools) after the
Rust tests. Screenshots and reports go under target/web/.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What berth serves here: (file under the components dir, its mount point).
SERVICES = [
    ("examples/items.wasm", "/items"),
    ("examples/hello.wasm", "/hello"),
    ("examples/items-py.wasm", "/items-py"),
    ("examples/hello-js.wasm", "/hello-js"),
    ("test/items-js.wasm", "/items-js"),
    ("test/hello-py.wasm", "/hello-py"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ADMIN_TOKEN = "web-check-admin-token-" + os.urandom(8).hex()


def get(url, headers=None, timeout=5):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


class Berth:
    """berth on free ports (its services' and its operator's), with a fresh
    data dir and `services`; `config` is a berth.toml, `shared` puts the
    operator's plane on the public listener."""

    def __init__(self, binary, components, out, services=SERVICES, config="", shared=False, log="berth.log"):
        self.dir = tempfile.mkdtemp(prefix="berth-web-")
        plugins = os.path.join(self.dir, "plugins")
        os.makedirs(plugins)
        for file, _ in services:
            shutil.copy(os.path.join(components, file), os.path.join(plugins, os.path.basename(file)))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.admin_url = self.url if shared else f"http://127.0.0.1:{free_port()}"
        self.token = ADMIN_TOKEN
        env = dict(os.environ, BERTH_LISTEN=self.url[len("http://"):], BERTH_DATA_DIR=os.path.join(self.dir, "data"),
                   BERTH_PLUGINS_DIR=plugins, BERTH_LOG="warn", BERTH_ADMIN_TOKEN=ADMIN_TOKEN,
                   BERTH_ADMIN_LISTEN="shared" if shared else self.admin_url[len("http://"):])
        env.pop("BERTH_CONFIG", None)
        if config:
            path = os.path.join(self.dir, "berth.toml")
            with open(path, "w") as file:
                file.write(config)
            env["BERTH_CONFIG"] = path
        self.log = open(os.path.join(out, log), "w")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = get(self.admin_url + "/admin/services", {"Authorization": "Bearer " + ADMIN_TOKEN})
                names = {s["name"] for s in json.loads(body)["services"]}
                if status == 200 and all(os.path.basename(f)[:-len(".wasm")] in names for f, _ in services):
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"berth did not come up with every service (see {self.log.name})")
            time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def browser(extra_args=()):
    """Headless Chromium that can resolve no host but 127.0.0.1 (or what
    `extra_args`' own `--host-resolver-rules` say)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,2000", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
    if not any(a.startswith("--host-resolver-rules") for a in extra_args):
        # Every other host fails to resolve: a page that needs a CDN
        # renders nothing here.
        arguments.append("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    for argument in arguments + list(extra_args):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                            options=options)


def requested_elsewhere(driver, berth):
    """What the page fetched from anywhere but berth."""
    requested = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requested.add(message["params"]["request"]["url"])
    return requested, sorted(u for u in requested
                             if not u.startswith((berth.url, berth.admin_url, "data:")))


def docs(berth, out):
    """Loads /docs in headless Chromium that can resolve no host but
    127.0.0.1, and checks that Swagger UI lists the items operations."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser()
    try:
        started = time.monotonic()
        driver.get(berth.url + "/docs")
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")) > 0)
        rendered = time.monotonic() - started
        operations = {
            (block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip(),
             block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"))
            for block in driver.find_elements(By.CSS_SELECTOR, ".opblock")
        }
        driver.save_screenshot(os.path.join(out, "docs.png"))
        expected = {("POST", "/items"), ("GET", "/items"), ("GET", "/items/{id}"), ("PUT", "/items/{id}"),
                    ("PATCH", "/items/{id}"), ("DELETE", "/items/{id}"), ("GET", "/items-py/{id}"),
                    ("GET", "/items-js/{id}"), ("GET", "/hello/{name}")}
        missing = expected - operations
        requested, elsewhere = requested_elsewhere(driver, berth)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print(f"docs: {len(operations)} operations listed in {rendered:.2f} s; "
              f"{len(requested)} requests, {len(elsewhere)} elsewhere; screenshot {out}/docs.png")
        problems = []
        if missing:
            problems.append(f"operations not listed: {sorted(missing)} (listed: {sorted(operations)})")
        if elsewhere:
            problems.append(f"the page fetched from other hosts: {elsewhere}")
        if errors:
            problems.append(f"browser errors: {errors}")
        return problems
    finally:
        driver.quit()


def schemathesis(berth, out, tools):
    """`schemathesis run --checks all` against the whole document."""
    report = os.path.join(out, "schemathesis.xml")
    command = [os.path.join(tools, "schemathesis"), "run", berth.url + "/openapi.json", "--checks", "all",
               "--max-examples", os.environ.get("BERTH_SCHEMATHESIS_EXAMPLES", "25"),
               # One worker: with two threads, hypothesis' lambda descriptions
               # race in CPython 3.11's ast.parse ("SystemError: AST constructor
               # recursion depth mismatch"), an error of the tool, not of berth.
               "--seed", "1", "--workers", "1", "--report", "junit", "--report-junit-path", report,
               "--suppress-health-check", "all", "--no-color"]
    print("schemathesis:", " ".join(command[1:]))
    # Run from the output dir: schemathesis keeps its cache where it runs.
    result = subprocess.run(command, cwd=out, env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
    return [] if result.returncode == 0 else [f"schemathesis found failures (exit {result.returncode}); see above"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--berth", default=os.path.join(ROOT, "target", "debug", "berth"))
    parser.add_argument("--components", default=os.path.join(ROOT, "target", "components"))
    parser.add_argument("--out", default=os.path.join(ROOT, "target", "web"))
    parser.add_argument("--only", default="docs,console,takeover,schemathesis")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    tools = os.path.dirname(sys.executable)
    only = set(args.only.split(","))
    berth = Berth(args.berth, args.components, args.out)
    problems = []
    try:
        if "docs" in only:
            problems += docs(berth, args.out)
        if "console" in only:
            from console import console
            problems += console(berth, args.components, args.out, browser, requested_elsewhere)
        if "schemathesis" in only:
            problems += schemathesis(berth, args.out, tools)
    finally:
        berth.stop()
    if "takeover" in only:
        from takeover import takeover
        problems += takeover(Berth, args.berth, args.components, args.out, browser)
    for problem in problems:
        print("FAILED:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
