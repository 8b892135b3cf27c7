"""A tenant's service tries to steal the operator's token through the
browser (see run.py; issue 24's attack), in every tenancy mode, with the
operator's plane on its own listener and in the single-port `shared` mode:

1. the tenant deploys `sw-thief` (plugins/tests/sw-thief): at its mount
   point it serves a service worker that reports every request of the pages
   it controls, `Authorization` header and all, to the service's own log;
2. the operator opens the tenant's page once, which registers that worker
   with scope `/` (the worker's script at the mount point has `/` as its
   default maximum scope);
3. the operator then opens the console and signs in with the admin token;
4. the tenant reads its service's log.

The token must never reach the service. The script request must have been
refused (403 `service_worker_refused`), so no worker is registered; and
where the operator allows the service workers (`allow_service_workers`),
one below the mount point does control the service's own pages — the
harness can see a worker that works — but still never the console.

    python3 tests/web/takeover.py --berth target/debug/berth --components target/components
"""

import http.client
import http.server
import json
import os
import threading
import time
import urllib.error
import urllib.request

TENANT = "acme"
BASE_DOMAIN = "berth.test"


def call(method, url, token=None, body=None):
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class TenantProxy:
    """What a header-tenancy deployment puts in front of berth: a proxy that
    names the tenant in `x-berth-tenant` on every request it forwards."""

    def __init__(self, upstream, tenant):
        host, port = upstream[len("http://"):].split(":")

        class Forward(http.server.BaseHTTPRequestHandler):
            def forward(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                headers["x-berth-tenant"] = tenant
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def scenario(mode, shared, allowed, berth_class, binary, components, out, browser):
    """One run; returns (problems, row) where row describes what happened."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    label = f"{mode}, {'shared port' if shared else 'own listener'}{', workers allowed' if allowed else ''}"
    tenant = "default" if mode == "off" else TENANT
    config = "" if mode == "off" else f'[tenancy]\nmode = "{mode}"\n'
    if mode == "subdomain":
        config += f'base_domain = "{BASE_DOMAIN}"\n'
    if allowed:
        config += f"[tenants.{tenant}.services.sw-thief]\nallow_service_workers = true\n"
    services = [("examples/hello.wasm", "/hello")] + ([("test/sw-thief.wasm", "/sw-thief")] if mode == "off" else [])
    berth = berth_class(binary, components, out, services=services, config=config, shared=shared,
                        log=f"berth-takeover-{mode}-{'shared' if shared else 'own'}{'-allowed' if allowed else ''}.log")
    proxy = None
    problems = []
    row = {"scenario": label}

    def check(condition, problem):
        if not condition:
            problems.append(f"takeover ({label}): {problem}")
        return condition

    try:
        scope = "" if mode == "off" else f"/tenants/{tenant}"
        if mode != "off":
            status, body = call("PUT", f"{berth.admin_url}/admin/tenants/{tenant}", berth.token, b"")
            check(status in (200, 201, 204), f"creating the tenant answered {status}: {body[:200]!r}")
            with open(os.path.join(components, "test", "sw-thief.wasm"), "rb") as file:
                wasm = file.read()
            status, body = call("PUT", f"{berth.admin_url}/admin{scope}/services/sw-thief", berth.token, wasm)
            check(status == 200, f"deploying sw-thief answered {status}: {body[:200]!r}")
        port = berth.url.rsplit(":", 1)[1]
        if mode == "header":
            proxy = TenantProxy(berth.url, tenant)
            origin, mount = proxy.url, "/sw-thief"
        elif mode == "path":
            origin, mount = berth.url, f"/{tenant}/sw-thief"
        elif mode == "subdomain":
            origin, mount = f"http://{tenant}.{BASE_DOMAIN}:{port}", "/sw-thief"
        else:
            origin, mount = berth.url, "/sw-thief"
        # Where the operator opens the console: beside the services, the
        # tenant's own origin (the worst case: the same origin as the
        # worker); otherwise the operator's listener.
        console = origin if shared else berth.admin_url
        driver = browser(extra_args=[
            f"--host-resolver-rules=MAP {tenant}.{BASE_DOMAIN} 127.0.0.1, MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            f"--unsafely-treat-insecure-origin-as-secure={origin}",
        ])
        wait = WebDriverWait(driver, 20)
        try:
            def visit(url):
                driver.get(url)
                wait.until(lambda d: d.title not in ("registering", "probing", ""))
                return driver.title

            collect = mount + "/collect"
            # 1. The attack: the worker at the mount point, scope `/`.
            attack = visit(f"{origin}{mount}/page?script={mount}&scope=/&collect={collect}")
            row["root worker"] = attack
            check(attack.startswith("refused"), f"the worker at the mount point was {attack!r}")
            if allowed:
                # The positive control: a worker below the mount point is
                # registered, and controls the service's own pages.
                below = visit(f"{origin}{mount}/page?script={mount}/sw.js&scope={mount}/&collect={collect}")
                row["worker below the mount"] = below
                check(below.startswith("registered"), f"the allowed worker was {below!r}")
                probe = visit(f"{origin}{mount}/probe")
                row["its own page"] = probe
                check(probe == "controlled", f"the allowed worker does not control {mount}/probe: {probe!r}")

            # 2. The operator signs in to the console.
            driver.get(console + "/console")
            token = wait.until(lambda d: d.find_element(By.ID, "token"))
            token.send_keys(berth.token, Keys.ENTER)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#services-body tr"))
            time.sleep(1.5)  # a refresh or two of the console's API calls
            row["console controlled"] = driver.execute_script("return !!navigator.serviceWorker.controller")
            check(not row["console controlled"], "a service worker controls the console")
            if allowed:
                visit(f"{origin}{mount}/probe")
        finally:
            driver.quit()

        # 3. What the tenant's service saw.
        time.sleep(0.5)
        status, body = call("GET", f"{berth.admin_url}/admin{scope}/services/sw-thief/logs?lines=1000", berth.token)
        check(status == 200, f"the thief's log answered {status}")
        lines = [json.loads(l) for l in body.decode().splitlines() if l.strip().startswith("{")]
        text = "\n".join(l.get("message", "") + " " + l.get("fields", "") for l in lines)
        row["token stolen"] = berth.token in text
        check(berth.token not in text and "Bearer" not in text,
              "the token reached the service: " + " | ".join(l for l in text.splitlines() if "Bearer" in l or "authorization" in l)[:500])
        refused = [l["message"] for l in lines if l.get("origin") == "request" and " 403 " in l["message"]
                   and l.get("fields", "").endswith("service_worker_refused")]
        row["script requests refused"] = len(refused)
        check(refused, "no service worker script request was refused: did the page run?")
        if allowed:
            seen = [l for l in text.splitlines() if "collected: seen" in l]
            row["requests the worker reported"] = len(seen)
            check(any("/probe" in l for l in seen), "the allowed worker reported nothing: the harness cannot see a working worker")
            check(not any("/admin" in l or "/console" in l for l in seen), f"the worker saw the console: {seen}")
    except Exception as error:
        problems.append(f"takeover ({label}): {type(error).__name__}: {error}")
    finally:
        if proxy:
            proxy.stop()
        berth.stop()
    return problems, row


def takeover(berth_class, binary, components, out, browser):
    problems, rows = [], []
    runs = [(mode, shared, False) for shared in (False, True) for mode in ("off", "header", "path", "subdomain")]
    runs += [("off", False, True), ("path", True, True)]
    for mode, shared, allowed in runs:
        found, row = scenario(mode, shared, allowed, berth_class, binary, components, out, browser)
        problems += found
        rows.append(row)
        print("takeover:", json.dumps(row))
    with open(os.path.join(out, "takeover.json"), "w") as file:
        json.dump(rows, file, indent=2)
    return problems
