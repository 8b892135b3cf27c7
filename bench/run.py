#!/usr/bin/env python3
"""berth's benchmark harness: berth and its peers side by side, in one run.

Run it with `cargo xtask bench` (add `--quick` for the short version); xtask
builds or installs every peer first. Writes bench/RESULTS.md (and the raw
numbers in bench/results.json). Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BERTH = os.path.join(TARGET, "release", "berth")
NATIVE = os.path.join(TARGET, "release", "bench-native")
TOOLS = os.path.join(TARGET, "bench-tools", "bin")
OHA = os.path.join(TOOLS, "oha")
WASMTIME = os.path.join(TOOLS, "wasmtime")
VENV = os.path.join(TARGET, "bench-venv")
COMPONENTS = os.path.join(TARGET, "components")
WASI_HELLO = os.path.join(TARGET, "wasm32-wasip2", "plugin", "wasi_hello.wasm")
TOKEN = "bench-admin-token-0123456789"
SERVER_CPUS = "0"
CLIENT_CPUS = "1"
# Pinned mode puts servers on SERVER_CPUS and the load generator on
# CLIENT_CPUS; unpinned mode lets the kernel place both (see `main`).
PINNED = True
# Warm instances per service in the "berth (reuse)" peers: enough for every
# request the service runs at once (16 per core on 2 cores).
REUSE = 32
ITEM = {"name": "Widget", "description": "A benchmark item", "price": 9.5, "quantity": 3}
# The throughput workloads: (name, path, method, body); hello runs once, the
# others on each database.
WORKLOADS = [
    ("hello", "/hello/bench", "GET", None),
    ("items read", "/items/42", "GET", None),
    ("items list of 20", "/items?limit=20", "GET", None),
    ("items write", "/items", "POST", ITEM),
]


def log(message):
    print(f"[bench] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=10):
    data = None
    headers = dict(headers or {})
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        else:
            data = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, OSError):
        return None, b""


def component(name):
    if name.startswith("test/"):
        return open(os.path.join(COMPONENTS, "test", name[5:] + ".wasm"), "rb").read()
    return open(os.path.join(COMPONENTS, "examples", name + ".wasm"), "rb").read()


def leb128(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def variant(wasm, tag):
    """The same component with a custom section appended: same code, another digest."""
    name = b"berth-bench"
    payload = leb128(len(name)) + name + tag.encode()
    return wasm + b"\x00" + leb128(len(payload)) + payload


class Server:
    """A server process pinned to the server core, with its memory sampled."""

    def __init__(self, name, argv, env=None, port=None, cwd=None, cpus="server", ready_path="/healthz"):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        full_env = dict(os.environ)
        full_env.update(env or {})
        if cpus == "server":
            cpus = SERVER_CPUS if PINNED else None
        command = (["taskset", "-c", cpus] if cpus else []) + argv
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(command, env=full_env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)
        self.started = time.monotonic()
        self.ready_path = ready_path

    def wait_ready(self, path=None, timeout=120):
        path = path or self.ready_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            status, _ = http("GET", self.url + path, timeout=2)
            if status == 200:
                return time.monotonic() - self.started
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer {path} in {timeout}s; see {self.log.name}")

    def pids(self):
        pids, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                children = open(f"/proc/{pid}/task/{pid}/children").read().split()
            except OSError:
                children = []
            todo.extend(int(c) for c in children)
        return pids

    def rss(self):
        """Resident memory of the server and its children, in bytes."""
        total = 0
        for pid in self.pids():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load(server, path, seconds, connections, method="GET", body=None, headers=None):
    """One oha run against `server`; returns throughput, latencies, failures, peak memory."""
    command = (["taskset", "-c", CLIENT_CPUS] if PINNED else []) + [
        OHA, "-z", f"{seconds}s", "-c", str(connections), "--no-tui", "--output-format", "json", "-m", method]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if body is not None:
        command += ["-d", json.dumps(body), "-H", "content-type: application/json"]
    command.append(server.url + path)
    peak = [server.rss()]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], server.rss())
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        done.set()
        sampler.join()
    result = json.loads(output)
    codes = result.get("statusCodeDistribution", {})
    ok = sum(n for code, n in codes.items() if 200 <= int(code) < 300)
    # Requests still in flight when the run's time is up are cut by oha
    # itself ("aborted due to deadline"): not failures of the server.
    errors = sum(n for kind, n in result.get("errorDistribution", {}).items() if "deadline" not in kind)

    percentiles = result.get("latencyPercentiles", {})
    return {
        "rps": result["summary"]["requestsPerSec"],
        "goodput": ok / seconds,
        "p50_ms": (percentiles.get("p50") or 0) * 1000,
        "p99_ms": (percentiles.get("p99") or 0) * 1000,
        "ok": ok,
        "failed": sum(codes.values()) - ok + errors,
        "rss_mb": peak[0] / 2**20,
    }


def median_result(runs):
    keys = ["rps", "goodput", "p50_ms", "p99_ms", "rss_mb"]
    merged = {k: statistics.median(r[k] for r in runs) for k in keys}
    merged["failed"] = sum(r["failed"] for r in runs)
    merged["rounds"] = len(runs)
    return merged


def alternate(peers, path, settings, method="GET", body=None, headers=None):
    """A B A B …: every peer once per round, after a warm-up each."""
    runs = {name: [] for name in peers}
    for name, server in peers.items():
        load(server, path, settings["warmup"], settings["connections"], method, body, headers)
    for _ in range(settings["rounds"]):
        for name, server in peers.items():
            runs[name].append(load(server, path, settings["duration"], settings["connections"], method, body, headers))
    return {name: median_result(r) for name, r in runs.items()}


# ---------------------------------------------------------------- databases

class Databases:
    """SQLite files in a temp dir, and PostgreSQL databases created per peer."""

    def __init__(self, workdir, postgres):
        self.workdir = workdir
        self.postgres = postgres
        self.created = []

    def psql(self, sql):
        subprocess.run(["psql", self.postgres, "-qc", sql], check=True, capture_output=True)

    def url(self, peer, engine):
        if engine == "sqlite":
            return {
                "berth": None,
                "berth-reuse": None,
                "native": "sqlite://" + os.path.join(self.workdir, "native.db"),
                "fastapi": "sqlite:///" + os.path.join(self.workdir, "fastapi.db"),
            }[peer]
        name = f"bench_{peer}_{os.getpid()}"
        if name not in self.created:
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.psql(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        base = self.postgres.rsplit("/", 1)[0]
        url = f"{base}/{name}"
        return url.replace("postgres://", "postgresql+psycopg://") if peer == "fastapi" else url

    def cleanup(self):
        for name in self.created:
            try:
                self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                roles = subprocess.run(
                    ["psql", self.postgres, "-Atc", "SELECT rolname FROM pg_roles WHERE rolname LIKE 'berth\\_%'"],
                    capture_output=True, text=True).stdout.split()
                for role in roles:
                    subprocess.run(["psql", self.postgres, "-qc", f'DROP ROLE IF EXISTS "{role}"'], capture_output=True)
            except subprocess.CalledProcessError:
                pass


def start_berth(workdir, name, plugins=None, env=None, database_url=None, extra=None, binary=None):
    port, admin_port = free_port(), free_port()
    data = os.path.join(workdir, f"berth-{name}")
    plugins = plugins or os.path.join(workdir, f"plugins-{name}")
    os.makedirs(plugins, exist_ok=True)
    full_env = {
        "BERTH_LISTEN": f"127.0.0.1:{port}",
        # The operator's plane on a listener of its own (binaries from
        # before it had one ignore this and serve it on BERTH_LISTEN).
        "BERTH_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
        "BERTH_DATA_DIR": data,
        "BERTH_PLUGINS_DIR": plugins,
        "BERTH_ADMIN_TOKEN": TOKEN,
        # berth's default level: its access log (one line per request, to
        # the log file below) is part of what a request costs.
    }
    if database_url:
        full_env["BERTH_DATABASE_URL"] = database_url
    full_env.update(env or {})
    server = Server(name, [binary or BERTH, "serve"] + (extra or []), env=full_env, port=port, ready_path="/readyz")
    server.data = data
    server.plugins = plugins
    server.wait_ready()
    admin = f"http://127.0.0.1:{admin_port}"
    server.admin_url = admin if http("GET", admin + "/healthz", timeout=2)[0] == 200 else server.url
    return server


def deploy(server, name, wasm, tenant=None):
    path = f"/admin/tenants/{tenant}/services/{name}" if tenant else f"/admin/services/{name}"
    status, body = http("PUT", server.admin_url + path, wasm, {"authorization": f"Bearer {TOKEN}"}, timeout=120)
    if status != 200:
        raise RuntimeError(f"deploy {name} failed: {status} {body[:300]}")


def seed(server, count=100):
    for i in range(count):
        status, _ = http("POST", server.url + "/items", dict(ITEM, name=f"seed {i}"))
        if status != 201:
            raise RuntimeError(f"seeding {server.name} failed with {status}")


def reuse_config(workdir, name, services):
    """A berth.toml that has `services` reuse their instances."""
    path = os.path.join(workdir, f"reuse-{name}.toml")
    with open(path, "w") as f:
        for service in services:
            f.write(f"[services.{service}]\nreuse_instances = {REUSE}\n")
    return path


def start_native(database_url):
    """bench/native on `database_url`, answering."""
    port = free_port()
    server = Server("native", [NATIVE], env={"LISTEN": f"127.0.0.1:{port}", "DATABASE_URL": database_url},
                    port=port, ready_path="/hello/x")
    server.wait_ready()
    return server


def start_peers(workdir, databases, engine, with_fastapi, with_reuse=False):
    peers = {}
    url = databases.url("berth", engine) if engine == "postgres" else None
    berth = start_berth(workdir, f"berth-{engine}", database_url=url)
    deploy(berth, "items", component("items"))
    deploy(berth, "hello", component("hello"))
    peers["berth"] = berth
    if with_reuse:
        url = databases.url("berth-reuse", engine) if engine == "postgres" else None
        config = reuse_config(workdir, f"peers-{engine}", ["items", "hello"])
        reused = start_berth(workdir, f"berth-reuse-{engine}", database_url=url, env={"BERTH_CONFIG": config})
        deploy(reused, "items", component("items"))
        deploy(reused, "hello", component("hello"))
        peers["berth (reuse)"] = reused
    peers["native"] = start_native(databases.url("native", engine))
    if with_fastapi:
        port = free_port()
        peers["fastapi"] = Server(
            "fastapi",
            [os.path.join(VENV, "bin", "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "2", "--log-level", "warning", "--no-access-log"],
            env={"DATABASE_URL": databases.url("fastapi", engine)},
            port=port, cwd=os.path.join(ROOT, "bench", "fastapi"), cpus=None, ready_path="/hello/x")
        peers["fastapi"].wait_ready()
    for server in peers.values():
        seed(server)
    return peers


# ---------------------------------------------------------------- scenarios

def throughput(workdir, databases, settings, engines):
    results = {}
    for engine in engines:
        log(f"throughput on {engine}")
        peers = start_peers(workdir, databases, engine, with_fastapi=True, with_reuse=True)
        try:
            if engine == "sqlite":
                port = free_port()
                wasmtime = Server("wasmtime-serve", [WASMTIME, "serve", "-S", "cli", "--addr", f"127.0.0.1:{port}",
                                                     WASI_HELLO], port=port, ready_path="/hello/x")
                wasmtime.wait_ready()
                hello_peers = dict(peers, **{"wasmtime serve": wasmtime})
                try:
                    results["hello"] = alternate(hello_peers, "/hello/bench", settings)
                finally:
                    wasmtime.stop()
            for workload, path, method, body in WORKLOADS[1:]:
                results[f"{workload} ({engine})"] = alternate(peers, path, settings, method, body)
        finally:
            for server in peers.values():
                server.stop()
    return results


def clients(workdir, databases, settings):
    """Goodput as clients grow: items read and hello at 32, 256 and 1000
    connections, berth (with default settings) next to native; with
    BERTH_BENCH_BASELINE set to another berth binary, that one too."""
    peers = start_peers(workdir, databases, "sqlite", with_fastapi=False)
    baseline = os.environ.get("BERTH_BENCH_BASELINE")
    if baseline:
        before = start_berth(workdir, "berth-baseline", binary=baseline)
        deploy(before, "items", component("items"))
        deploy(before, "hello", component("hello"))
        seed(before)
        peers["berth (baseline)"] = before
    results = {}
    try:
        for workload, path in [("items read", "/items/42"), ("hello", "/hello/bench")]:
            for count in settings["client_counts"]:
                log(f"clients: {workload} with {count} connections")
                load_settings = dict(settings, connections=count, duration=settings["clients_duration"],
                                     rounds=settings["clients_rounds"])
                results[f"{workload}, {count} clients"] = alternate(peers, path, load_settings)
    finally:
        for server in peers.values():
            server.stop()
    return results


# The same workloads written in each language, on one berth (SQLite), next to
# FastAPI: (workload, language, component, path). A row is skipped when its
# component was not built.
LANGUAGE_ROWS = [
    ("hello", "Rust", "hello", "/hello/bench"),
    ("hello", "Python", "test/hello-py", "/hello-py/bench"),
    ("hello", "JavaScript", "hello-js", "/hello-js/bench"),
    ("items read", "Rust", "items", "/items/42"),
    ("items read", "Python", "items-py", "/items-py/42"),
    ("items read", "JavaScript", "test/items-js", "/items-js/42"),
]
FASTAPI_PATHS = {"hello": "/hello/bench", "items read": "/items/42"}


def built(name):
    folder, file = ("test", name[5:]) if name.startswith("test/") else ("examples", name)
    return os.path.exists(os.path.join(COMPONENTS, folder, file + ".wasm"))


def serving_only(workdir, name, wasm, path, cache):
    """The resident memory of a berth serving only `wasm`, once idle."""
    plugins = tempfile.mkdtemp(dir=workdir)
    if wasm is not None:
        with open(os.path.join(plugins, name + ".wasm"), "wb") as f:
            f.write(wasm)
    config = os.path.join(workdir, f"idle-{name}.toml")
    with open(config, "w") as f:
        f.write(f"[runtime]\ncache_dir = {json.dumps(cache)}\n")
    server = start_berth(workdir, f"idle-{name}", plugins=plugins, env={"BERTH_CONFIG": config})
    try:
        # Ready means the plugins dir is loaded.
        if path is not None:
            status, _ = http("GET", server.url + path.rsplit("/", 1)[0])
            if status != 200:
                raise RuntimeError(f"{name} does not serve alone: {status}")
            for _ in range(20):
                http("GET", server.url + path)
        time.sleep(1)
        return server.rss()
    finally:
        server.stop()


def languages(workdir, databases, settings):
    """Per language: size, deploy time (compiling, then from the compile
    cache), idle memory per deployment, then hello and items read alternating
    with FastAPI."""
    log(f"languages ({'pinned' if PINNED else 'unpinned'})")
    rows = [row for row in LANGUAGE_ROWS if built(row[2])]
    names = sorted({built_as.split("/")[-1] for _, _, built_as, _ in rows})
    config = reuse_config(workdir, "languages", [f"{name}-reuse" for name in names])
    server = start_berth(workdir, f"languages-{'pinned' if PINNED else 'unpinned'}", env={"BERTH_CONFIG": config})
    port = free_port()
    fastapi = Server(
        "fastapi",
        [os.path.join(VENV, "bin", "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2", "--log-level", "warning", "--no-access-log"],
        env={"DATABASE_URL": databases.url("fastapi", "sqlite")},
        port=port, cwd=os.path.join(ROOT, "bench", "fastapi"), cpus=None, ready_path="/hello/x")
    components = {}
    try:
        fastapi.wait_ready()
        seed(fastapi)
        for _, language, built_as, path in rows:
            name = built_as.split("/")[-1]
            if name in components:
                continue
            wasm = component(built_as)
            before = server.rss()
            started = time.monotonic()
            deploy(server, name, wasm)
            compiled = time.monotonic() - started
            prefix = "/" + name
            if name.startswith("items"):
                for i in range(100):
                    status, _ = http("POST", server.url + prefix, dict(ITEM, name=f"seed {i}"))
                    if status != 201:
                        raise RuntimeError(f"seeding {name} failed with {status}")
            for _ in range(20):
                http("GET", server.url + path)
            # The same service with its instances reused, on its own data.
            deploy(server, name + "-reuse", wasm)
            if name.startswith("items"):
                for i in range(100):
                    http("POST", server.url + prefix + "-reuse", dict(ITEM, name=f"seed {i}"))
            # The same bytes again under another name: compiled code from the cache.
            started = time.monotonic()
            deploy(server, name + "-again", wasm)
            cached = time.monotonic() - started
            components[name] = {"language": language, "size_mb": len(wasm) / 2**20, "deploy_ms": compiled * 1000,
                                "cached_deploy_ms": cached * 1000}
        # Idle memory (measured once, in pinned mode): a berth serving only
        # that service (compiled code from the cache, 20 requests served),
        # less an empty berth.
        cache = os.path.join(server.data, "cache")
        empty = serving_only(workdir, "empty", None, None, cache) if PINNED else None
        for _, _, built_as, path in rows:
            name = built_as.split("/")[-1]
            if PINNED and "idle_mb" not in components[name]:
                alone = serving_only(workdir, name, component(built_as), path, cache)
                components[name]["idle_mb"] = (alone - empty) / 2**20
        results = {"components": components, "workloads": {}}
        for workload in FASTAPI_PATHS:
            targets = []
            for w, language, built_as, path in rows:
                if w == workload:
                    name = built_as.split("/")[-1]
                    targets.append((f"berth {language}", server, path))
                    targets.append((f"berth {language} (reuse)", server, path.replace(f"/{name}/", f"/{name}-reuse/", 1)))
            targets.append(("FastAPI", fastapi, FASTAPI_PATHS[workload]))
            runs = {label: [] for label, _, _ in targets}
            for label, target, path in targets:
                load(target, path, settings["warmup"], settings["connections"])
            for _ in range(settings["rounds"]):
                for label, target, path in targets:
                    runs[label].append(load(target, path, settings["duration"], settings["connections"]))
            results["workloads"][workload] = {label: median_result(r) for label, r in runs.items()}
        return results
    finally:
        fastapi.stop()
        server.stop()


def cold_start(workdir, settings):
    log("cold start")
    results = {}
    hello = component("hello")
    for count in settings["cold_counts"]:
        server = start_berth(workdir, f"cold-{count}")
        for i in range(count):
            deploy(server, f"svc{i}", variant(hello, f"{count}-{i}"))
        data, plugins = server.data, server.plugins
        server.stop()
        timings = {"with cache": [], "without cache": []}
        for _ in range(settings["cold_rounds"]):
            for mode in timings:
                if mode == "without cache":
                    shutil.rmtree(os.path.join(data, "cache"), ignore_errors=True)
                port = free_port()
                env = {"BERTH_LISTEN": f"127.0.0.1:{port}", "BERTH_ADMIN_LISTEN": f"127.0.0.1:{free_port()}",
                       "BERTH_DATA_DIR": data, "BERTH_PLUGINS_DIR": plugins, "BERTH_LOG": "warn"}
                started = Server(f"cold-{count}", [BERTH, "serve"], env=env, port=port)
                timings[mode].append(started.wait_ready(f"/svc{count - 1}/x"))
                started.stop()
        results[f"{count} service{'s' if count > 1 else ''}"] = {
            mode: statistics.median(values) * 1000 for mode, values in timings.items()}
    return results


def hot_swap(workdir, settings):
    log("hot swap under load")
    server = start_berth(workdir, "swap")
    v1, v2 = component("hello"), component("test/hello-v2")
    deploy(server, "hello", v1)
    steady = load(server, "/hello/x", settings["swap_seconds"], settings["connections"])
    swaps = [0]
    stop = threading.Event()

    def swapper():
        while not stop.is_set():
            deploy(server, "hello", v2 if swaps[0] % 2 == 0 else v1)
            swaps[0] += 1
            time.sleep(0.25)

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        during = load(server, "/hello/x", settings["swap_seconds"], settings["connections"])
    finally:
        stop.set()
        thread.join()
    # File drops: rename into place, then poll until the new version answers.
    latencies = []
    for i in range(settings["file_swaps"]):
        wasm, version = (v2, "2.0.0") if i % 2 == 0 else (v1, "1.0.0")
        partial = os.path.join(server.plugins, "hello.wasm.partial")
        with open(partial, "wb") as f:
            f.write(wasm)
        renamed = time.monotonic()
        os.rename(partial, os.path.join(server.plugins, "hello.wasm"))
        while True:
            status, body = http("GET", server.url + "/hello/x")
            if status == 200 and json.loads(body)["version"] == version:
                break
            if time.monotonic() - renamed > 10:
                raise RuntimeError("a file swap did not go live within 10 s")
        latencies.append((time.monotonic() - renamed) * 1000)
    server.stop()
    return {"steady": steady, "during swaps": during, "swaps": swaps[0],
            "file swap ms": {"median": statistics.median(latencies), "max": max(latencies)}}


def density(workdir, settings):
    """Resident memory with N tenants each running one idle `items`, in
    Rust and in Python."""
    log("density")
    results = {}
    for name, built_as in [("items", "items"), ("items-py", "items-py")]:
        if not built(built_as):
            continue
        wasm = component(built_as)
        for count in settings["density_counts"]:
            server = start_berth(workdir, f"density-{name}-{count}", env={"BERTH_TENANCY": "header"})
            started = time.monotonic()
            for i in range(count):
                status, _ = http("PUT", f"{server.admin_url}/admin/tenants/t{i}", b"", {"authorization": f"Bearer {TOKEN}"})
                if status not in (200, 201):
                    raise RuntimeError(f"cannot create tenant t{i}: {status}")
                deploy(server, name, wasm, tenant=f"t{i}")
            took = time.monotonic() - started
            time.sleep(2)
            results[f"{name} × {count}"] = {"service": name, "count": count, "rss_mb": server.rss() / 2**20,
                                            "deploy_s": took}
            server.stop()
    return results


def fairness(workdir, settings):
    """One tenant floods `items` with 200 connections while another reads
    with one: the quiet tenant's latency is the point (target: p99 ≤ 50 ms)."""
    log("fairness: a flooding tenant next to a quiet one")
    server = start_berth(workdir, "fairness", env={"BERTH_TENANCY": "header"})
    try:
        for tenant in ("flood", "quiet"):
            status, _ = http("PUT", f"{server.admin_url}/admin/tenants/{tenant}", b"", {"authorization": f"Bearer {TOKEN}"})
            if status not in (200, 201):
                raise RuntimeError(f"cannot create tenant {tenant}: {status}")
            deploy(server, "items", component("items"), tenant=tenant)
            for i in range(50):
                status, _ = http("POST", server.url + "/items", dict(ITEM, name=f"seed {i}"), {"x-berth-tenant": tenant})
                if status != 201:
                    raise RuntimeError(f"seeding tenant {tenant} failed with {status}")
        seconds = settings["fairness_seconds"]
        flood = {}
        flooder = threading.Thread(target=lambda: flood.update(
            load(server, "/items/42", seconds + 2, 200, headers={"x-berth-tenant": "flood"})))
        flooder.start()
        time.sleep(1)
        quiet = load(server, "/items/42", seconds, 1, headers={"x-berth-tenant": "quiet"})
        flooder.join()
        return {"flooding tenant (200 connections)": flood, "quiet tenant (1 connection)": quiet}
    finally:
        server.stop()


def epoch_cost(workdir, settings):
    log("epoch deadlines")
    peers = {}
    for name, deadlines in [("deadlines on", "true"), ("deadlines off", "false")]:
        server = start_berth(workdir, f"epoch-{deadlines}", env={"BERTH_DEADLINES": deadlines})
        deploy(server, "hello", component("hello"))
        deploy(server, "hostile", component("test/hostile"))
        peers[name] = server
    try:
        return {
            "hello": alternate(peers, "/hello/bench", settings),
            "CPU-bound (/hostile/cpu?n=200000)": alternate(peers, "/hostile/cpu?n=200000", settings),
        }
    finally:
        for server in peers.values():
            server.stop()


# ---------------------------------------------------------------- report

def ratio(a, b):
    return a / b if b else float("nan")


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory, 1), "kernel": platform.release(),
            "commit": commit, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def report(results, settings, mode, command):
    m = results["machine"]
    lines = [
        "# berth benchmark results",
        "",
        f"Generated by `{command}` ({mode} mode) on {m['date']}, commit `{m['commit']}`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}.",
        "Do not edit by hand: rerun the command.",
        "",
        f"Method: oha {settings['connections']} connections, keep-alive; {settings['warmup']} s warm-up per peer, then "
        f"{settings['rounds']} alternating rounds (A B A B …) of {settings['duration']} s; medians over rounds. "
        f"Throughput and languages run in two modes: **pinned** (servers on CPU {SERVER_CPUS}, FastAPI's 2 workers on "
        f"both CPUs, oha on CPU {CLIENT_CPUS}) and **unpinned** (the kernel places servers and oha). "
        "The rest runs pinned. `berth` gives every request a fresh instance (the default); `berth (reuse)` keeps "
        f"up to {REUSE} warm instances per service (`reuse_instances = {REUSE}`). "
        "Memory is the peak resident set of the server process tree during the runs.",
        "",
    ]
    targets = []
    for mode, throughput in results.get("throughput", {}).items():
        for workload, peers in throughput.items():
            lines += [f"## {workload}, {mode}", "",
                      "| peer | req/s | p50 ms | p99 ms | peak RSS MiB | failed | berth ÷ peer (req/s) | berth ÷ peer (p99) |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            berth = peers["berth"]
            for name, r in peers.items():
                lines.append(f"| {name} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | "
                             f"{fmt(r['rss_mb'], 1)} | {r['failed']} | {fmt(ratio(berth['rps'], r['rps']), 2)} | "
                             f"{fmt(ratio(berth['p99_ms'], r['p99_ms']), 2)} |")
            lines.append("")
            native = peers["native"]["rps"]
            reused = peers.get("berth (reuse)")
            if workload == "hello":
                targets.append((f"hello ≥ 0.5× native ({mode})", ratio(berth["rps"], native), 0.5, ">="))
                if reused:
                    targets.append((f"hello with reuse ≥ 0.8× native ({mode})", ratio(reused["rps"], native), 0.8, ">="))
                if "wasmtime serve" in peers:
                    targets.append((f"hello ≥ 1.2× `wasmtime serve` ({mode})",
                                    ratio(berth["rps"], peers["wasmtime serve"]["rps"]), 1.2, ">="))
            elif "list" not in workload:
                targets.append((f"{workload} ≥ 0.75× native ({mode})", ratio(berth["rps"], native), 0.75, ">="))
                if reused and "read" in workload:
                    targets.append((f"{workload} with reuse ≥ 0.9× native ({mode})", ratio(reused["rps"], native), 0.9, ">="))
            if "fastapi" in peers and workload.startswith("items"):
                f = peers["fastapi"]
                targets.append((f"{workload}: ≥ 10× FastAPI throughput ({mode})", ratio(berth["rps"], f["rps"]), 10, ">="))
                targets.append((f"{workload}: p99 ≤ 0.1× FastAPI ({mode})", ratio(berth["p99_ms"], f["p99_ms"]), 0.1, "<="))
                targets.append((f"{workload}: memory ≤ 0.5× FastAPI ({mode})", ratio(berth["rss_mb"], f["rss_mb"]), 0.5, "<="))
    if "clients" in results:
        lines += ["## Goodput as clients grow (SQLite, default settings)", "",
                  "Goodput is 2xx answers per second; non-2xx is their count over all rounds.", "",
                  "| workload | clients | peer | goodput /s | non-2xx | p99 ms |", "|---|---:|---|---:|---:|---:|"]
        by_workload = {}
        for key, peers in results["clients"].items():
            workload, count = key.rsplit(", ", 1)
            count = int(count.split()[0])
            by_workload.setdefault(workload, {})[count] = peers
            for name, r in peers.items():
                lines.append(f"| {workload} | {count} | {name} | {fmt(r['goodput'])} | {r['failed']} | {fmt(r['p99_ms'], 1)} |")
        lines.append("")
        for workload, counts in by_workload.items():
            low, high = min(counts), max(counts)
            for count, peers in counts.items():
                if count >= 256:
                    targets.append((f"{workload}: non-2xx at {count} clients", peers["berth"]["failed"], 0, "<="))
            targets.append((f"{workload}: goodput at {high} clients ÷ at {low}",
                            ratio(counts[high]["berth"]["goodput"], counts[low]["berth"]["goodput"]), 0.8, ">="))
    for mode, r in results.get("languages", {}).items():
        lines += [f"## Languages, {mode} (one berth on SQLite, next to FastAPI)", ""]
        if any("idle_mb" in c for c in r["components"].values()):
            lines += ["| component | language | size MiB | deploy ms (compiling) | deploy ms (cached) | "
                      "idle RSS of a berth serving only it, less an empty one, MiB |", "|---|---|---:|---:|---:|---:|"]
            for name, c in r["components"].items():
                lines.append(f"| {name} | {c['language']} | {fmt(c['size_mb'], 1)} | {fmt(c['deploy_ms'])} | "
                             f"{fmt(c['cached_deploy_ms'])} | {fmt(c['idle_mb'], 1)} |")
                if c["language"] != "Rust":
                    targets.append((f"idle RSS of one more {c['language']} service `{name}` (MiB)", c["idle_mb"], 40, "<="))
            lines.append("")
        lines += ["| workload | peer | req/s | p50 ms | p99 ms | failed | ÷ FastAPI (req/s) |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for workload, peers in r["workloads"].items():
            fastapi = peers.get("FastAPI", {}).get("rps", float("nan"))
            for label, m in peers.items():
                lines.append(f"| {workload} | {label} | {fmt(m['rps'])} | {fmt(m['p50_ms'], 2)} | {fmt(m['p99_ms'], 2)} | "
                             f"{m['failed']} | {fmt(ratio(m['rps'], fastapi), 2)} |")
                if label.endswith("(reuse)") and "Rust" not in label:
                    # Items read: Python with reuse ≥ 2×, JavaScript ≥ 1.5× FastAPI; hello ≥ 1×.
                    goal = 1.0 if "items" not in workload else 2.0 if "Python" in label else 1.5
                    targets.append((f"{workload}: {label} ≥ {goal}× FastAPI ({mode})", ratio(m["rps"], fastapi), goal, ">="))
        lines.append("")
    if "cold_start" in results:
        lines += ["## Cold start (process start → first response of the last service)", "",
                  "| services | with compile cache ms | without ms | with ÷ without |", "|---|---:|---:|---:|"]
        for count, r in results["cold_start"].items():
            q = ratio(r["with cache"], r["without cache"])
            lines.append(f"| {count} | {fmt(r['with cache'], 1)} | {fmt(r['without cache'], 1)} | {fmt(q, 3)} |")
            if count.startswith("20"):
                targets.append(("cold start with cache ≤ 1/20 of without (20 services)", q, 0.05, "<="))
        lines.append("")
    if "hot_swap" in results:
        h = results["hot_swap"]
        q = ratio(h["during swaps"]["p99_ms"], h["steady"]["p99_ms"])
        lines += ["## Hot swap under load (`hello`, admin deploys alternating v1/v2 every 250 ms)", "",
                  "| run | req/s | p50 ms | p99 ms | failed |", "|---|---:|---:|---:|---:|",
                  f"| steady | {fmt(h['steady']['rps'])} | {fmt(h['steady']['p50_ms'], 2)} | {fmt(h['steady']['p99_ms'], 2)} | {h['steady']['failed']} |",
                  f"| during {h['swaps']} swaps | {fmt(h['during swaps']['rps'])} | {fmt(h['during swaps']['p50_ms'], 2)} | {fmt(h['during swaps']['p99_ms'], 2)} | {h['during swaps']['failed']} |",
                  "", f"File drop (rename) → new version serving: median {fmt(h['file swap ms']['median'], 1)} ms, "
                  f"max {fmt(h['file swap ms']['max'], 1)} ms.", ""]
        targets.append(("hot swap p99 ≤ 2× steady p99", q, 2, "<="))
        targets.append(("hot swap: zero failed requests", h["during swaps"]["failed"], 0, "<="))
    if "density" in results:
        lines += ["## Density (idle `items` deployments, one per tenant, SQLite)", "",
                  "| service | tenant × service pairs | RSS MiB | time to deploy them s |", "|---|---:|---:|---:|"]
        for r in results["density"].values():
            lines.append(f"| {r['service']} | {r['count']} | {fmt(r['rss_mb'], 1)} | {fmt(r['deploy_s'], 1)} |")
            if r["count"] == 1000 and r["service"] == "items":
                targets.append(("1000 idle Rust `items` pairs at about 100 MiB RSS (MiB, ≤ 128)", r["rss_mb"], 128, "<="))
            if r["count"] == 1000 and r["service"] == "items-py":
                targets.append(("1000 idle `items-py` pairs under 1 GiB RSS (MiB)", r["rss_mb"], 1024, "<="))
        lines.append("")
    if "fairness" in results:
        lines += ["## Fairness (`items` read, one tenant flooding with 200 connections, another reading with 1)", "",
                  "| tenant | req/s | p50 ms | p99 ms | failed |", "|---|---:|---:|---:|---:|"]
        for name, r in results["fairness"].items():
            lines.append(f"| {name} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {r['failed']} |")
        lines.append("")
        quiet = results["fairness"]["quiet tenant (1 connection)"]
        targets.append(("quiet tenant's p99 under another tenant's flood (ms)", quiet["p99_ms"], 50, "<="))
        targets.append(("fairness: failed requests of either tenant",
                        sum(r["failed"] for r in results["fairness"].values()), 0, "<="))
    if "epoch" in results:
        lines += ["## Epoch deadlines (same run, alternating)", "", "| workload | deadlines on req/s | off req/s | on ÷ off |",
                  "|---|---:|---:|---:|"]
        for workload, r in results["epoch"].items():
            q = ratio(r["deadlines on"]["rps"], r["deadlines off"]["rps"])
            lines.append(f"| {workload} | {fmt(r['deadlines on']['rps'])} | {fmt(r['deadlines off']['rps'])} | {fmt(q, 3)} |")
            if workload == "hello":
                targets.append(("epoch deadlines cost ≤ 5% on hello (on ÷ off)", q, 0.95, ">="))
        lines.append("")
    if targets:
        lines += ["## Targets", "", "| target | measured | goal | met |", "|---|---:|---:|:---:|"]
    for name, value, goal, op in targets:
        met = value >= goal if op == ">=" else value <= goal
        lines.append(f"| {name} | {fmt(value, 3)} | {op} {goal} | {'yes' if met else 'no'} |")
    lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, fewer rounds (a few minutes)")
    parser.add_argument("--only", default="", help="comma-separated: throughput,clients,languages,cold,swap,density,epoch,fairness")
    parser.add_argument("--postgres", default=os.environ.get("BERTH_BENCH_POSTGRES_URL",
                        f"postgres://{os.environ.get('USER', 'postgres')}@127.0.0.1:5432/postgres"))
    parser.add_argument("--output", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    parser.add_argument("--modes", default="pinned,unpinned",
                        help="throughput and languages run in each: pinned (servers on CPU 0, oha on CPU 1) "
                             "and unpinned (the kernel places both)")
    parser.add_argument("--check", action="store_true",
                        help="a short run comparing berth ÷ native with bench/results.json (bench/check.py)")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("pinned", "unpinned") for m in modes):
        parser.error("--modes takes pinned, unpinned or both")
    settings = {
        "connections": 16,
        "warmup": 1 if args.quick else 3,
        "duration": 3 if args.quick else 10,
        "rounds": 2 if args.quick else 4,
        "cold_counts": [1, 20],
        "cold_rounds": 2 if args.quick else 5,
        "swap_seconds": 5 if args.quick else 15,
        "file_swaps": 6 if args.quick else 20,
        "density_counts": [1, 1000] if args.quick else [1, 100, 1000],
        "client_counts": [32, 256, 1000],
        "clients_duration": 4 if args.quick else 8,
        "clients_rounds": 1 if args.quick else 2,
        "fairness_seconds": 4 if args.quick else 10,
    }
    only = set(filter(None, args.only.split(",")))
    engines = ["sqlite"]
    if subprocess.run(["pg_isready", "-d", args.postgres], capture_output=True).returncode == 0:
        engines.append("postgres")
    else:
        log(f"PostgreSQL is not reachable at {args.postgres}: skipping the PostgreSQL workloads")
    workdir = tempfile.mkdtemp(prefix="berth-bench-")
    databases = Databases(workdir, args.postgres)
    if args.check:
        import check
        try:
            return check.main(args, databases, engines, workdir)
        finally:
            databases.cleanup()
            shutil.rmtree(workdir, ignore_errors=True)
    results = {"machine": machine(), "settings": settings}
    try:
        global PINNED
        for mode in modes:
            PINNED = mode == "pinned"
            if not only or "throughput" in only:
                results.setdefault("throughput", {})[mode] = throughput(workdir, databases, settings, engines)
            if not only or "languages" in only:
                results.setdefault("languages", {})[mode] = languages(workdir, databases, settings)
        # The rest runs pinned, as before.
        PINNED = True
        if not only or "clients" in only:
            results["clients"] = clients(workdir, databases, settings)
        if not only or "cold" in only:
            results["cold_start"] = cold_start(workdir, settings)
        if not only or "swap" in only:
            results["hot_swap"] = hot_swap(workdir, settings)
        if not only or "density" in only:
            results["density"] = density(workdir, settings)
        if not only or "epoch" in only:
            results["epoch"] = epoch_cost(workdir, settings)
        if not only or "fairness" in only:
            results["fairness"] = fairness(workdir, settings)
    finally:
        databases.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    command = "cargo xtask bench" + (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "") \
        + (f" --modes {args.modes}" if args.modes != "pinned,unpinned" else "")
    text = report(results, settings, mode, command)
    with open(args.output, "w") as f:
        f.write(text)
    with open(os.path.splitext(args.output)[0].replace("RESULTS", "results") + ".json", "w") as f:
        json.dump(results, f, indent=2, default=str)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
