#!/usr/bin/env python3
"""Where one request's time goes: berth (release build) pinned to CPU 0 under
oha load from CPU 1, sampled by `perf record`, and every sample sorted into
the buckets of bench/README.md by the function it was taken in.

    python3 bench/profile.py                       # hello, items read on SQLite and PostgreSQL, Python hello with reuse
    python3 bench/profile.py --workloads hello

Every request's CPU time (from /proc, the server's whole process) is split
by the share of perf samples into the host outside the sandbox, the sandbox
(instantiate, reset, lift and lower, guest code, the rest of wasmtime) and
the host's database path; PostgreSQL's own processes are counted apart.
bench/native serves the same workload beside it.

Needs `perf` and a built `target/release/berth` and components
(`cargo xtask bench` builds both). Prints one Markdown table per workload.
Standard library only; shares bench/run.py's helpers.
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

# workload: (component, deployed as, path, database engine, with reuse)
WORKLOADS = {
    "hello": ("hello", "hello", "/hello/bench", "sqlite", False),
    "items read": ("items", "items", "/items/42", "sqlite", False),
    "items read (PostgreSQL)": ("items", "items", "/items/42", "postgres", False),
    "Python hello (reuse)": ("test/hello-py", "hello-py", "/hello-py/bench", "sqlite", True),
    "Python hello": ("test/hello-py", "hello-py", "/hello-py/bench", "sqlite", False),
    "JavaScript hello": ("hello-js", "hello-js", "/hello-js/bench", "sqlite", False),
}
DEFAULT_WORKLOADS = "hello,items read,items read (PostgreSQL),Python hello (reuse)"

# Which part of the request each bucket belongs to.
SANDBOX = "sandbox"
DATABASE = "database"
HOST = "host outside the sandbox"

# Buckets, first match wins: (bucket, regex over "dso symbol").
BUCKETS = [
    ("guest code (compiled wasm)", r"^(\[unknown\]|//anon|\[anon|perf-\d+\.map|\S+\.cwasm |wasm\[)|wasm-function|jit|\[JIT\]"),
    ("instantiate: memory and table reset (kernel)", r"^\[kernel\.kallsyms\] .*(madvise|zap_|unmap|tlb|mprotect|change_prot|page_fault|handle_mm_fault|do_anonymous|clear_page|filemap|lru|folio|pte|pmd|do_user_addr|exc_page|mm_)"),
    ("kernel: network and scheduling", r"^\[kernel\.kallsyms\]"),
    ("instantiate (wasmtime)", r"instantiat|InstancePre|pooling|Pooling|MemoryImage|memory_image|cow|Cow|allocate_module|allocate_memor|allocate_table|init_table|initialize_|OnDemand|vm::instance|Instance::new|component::instance|func_loc|FuncRef|funcref|VMFuncRef|table_init|lazy_init"),
    ("store and WASI context", r"Store.*new|StoreInner|StoreOpaque::new|WasiCtx|ServiceState|ResourceTable|WasiState|LogCtx|DatabaseCtx|OutboundCtx|drop_in_place<wasmtime::runtime::store|Store<|StoreData"),
    ("lift and lower (component calls)", r"lower|lift|Lower|Lift|typed::|TypedFunc|ComponentType|canonical|realloc|post_return|call_raw|host_func|HostFunc|trampoline|Trampoline|array_call|wasm_to_host|host_to_wasm"),
    ("host database path (sqlx, SQLite, PostgreSQL)", r"sqlx|sqlite3|libsqlite|Sqlite|sqlite|postgres|Postgres|tokio_postgres|namespace|Namespace|capabilities::database"),
    ("axum, hyper, routing, JSON", r"axum|hyper|tower|http::|h2::|matchit|routing|serde_json|jsonschema|dispatch|convert::|berth::http"),
    ("async runtime (tokio), epoch, futures", r"tokio|mio|futures|epoch|fiber|Fiber|wasmtime_fiber|parking_lot|std::sync|crossbeam"),
    ("allocator and memcpy (libc)", r"malloc|free|realloc|calloc|memcpy|memmove|memset|cfree|_int_|^libc"),
    ("wasmtime, other", r"wasmtime|cranelift|wasmparser"),
]
PART = {
    "guest code (compiled wasm)": SANDBOX,
    "instantiate: memory and table reset (kernel)": SANDBOX,
    "instantiate (wasmtime)": SANDBOX,
    "store and WASI context": SANDBOX,
    "lift and lower (component calls)": SANDBOX,
    "wasmtime, other": SANDBOX,
    "host database path (sqlx, SQLite, PostgreSQL)": DATABASE,
}


def classify(dso, symbol):
    text = f"{dso} {symbol}"
    for bucket, pattern in BUCKETS:
        if re.search(pattern, text):
            return bucket
    return "other"


def cpu_seconds(pids):
    """User and system CPU time of `pids` (whole processes), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def postgres_pids():
    """The PostgreSQL server's processes (for the database's own CPU)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/comm").read().strip() == "postgres":
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def measured(server, path, seconds, connections, perf_data=None):
    """One load run, with the server's and PostgreSQL's CPU time per request
    (and `perf record` of the server when `perf_data` is given)."""
    record = None
    if perf_data:
        record = subprocess.Popen(["perf", "record", "-F", "2000", "-g", "-o", perf_data, "-p",
                                   str(server.process.pid), "--", "sleep", str(seconds)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before, pg_before = cpu_seconds(server.pids()), cpu_seconds(postgres_pids())
    result = run.load(server, path, seconds, connections)
    after, pg_after = cpu_seconds(server.pids()), cpu_seconds(postgres_pids())
    if record:
        record.wait()
    requests = max(1, result["ok"] + result["failed"])
    result["server_us"] = (after - before) * 1e6 / requests
    result["postgres_us"] = (pg_after - pg_before) * 1e6 / requests
    return result


def profile(binary, workload, seconds, connections, databases):
    built_as, name, path, engine, reuse = WORKLOADS[workload]
    workdir = tempfile.mkdtemp(prefix="berth-profile-")
    env = {}
    if reuse:
        env["BERTH_CONFIG"] = run.reuse_config(workdir, "profile", [name])
    url = databases.url("berth", engine) if engine == "postgres" else None
    server = run.start_berth(workdir, "profile", env=env, binary=binary, database_url=url)
    try:
        run.deploy(server, name, run.component(built_as))
        if name == "items":
            run.seed(server)
        run.load(server, path, 2, connections)
        data = os.path.join(workdir, "perf.data")
        result = measured(server, path, seconds, connections, data)
    finally:
        server.stop()
    with open(os.path.join(workdir, "result.json"), "w") as f:
        json.dump(dict(result, workload=workload), f)
    return (result, *summarize(data))


def native(workload, seconds, connections, databases):
    """bench/native serving the same workload: its whole request, for scale."""
    _, _, path, engine, _ = WORKLOADS[workload]
    if "hello" in workload:
        path = "/hello/bench"
    server = run.start_native(databases.url("native", engine))
    try:
        if path.startswith("/items"):
            run.seed(server)
        run.load(server, path, 2, connections)
        return measured(server, path, seconds, connections)
    finally:
        server.stop()


def summarize(data):
    """The samples of `data` (a perf.data) by bucket and by symbol, in %."""
    report = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                             "--sort", "dso,sym", "--percent-limit", "0"],
                            capture_output=True, text=True, check=True).stdout
    buckets = collections.Counter()
    top = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.kKgu]\]\s+(.*)$", line)
        if not m:
            continue
        share, dso, symbol = float(m.group(1)), m.group(2), m.group(3).strip()
        buckets[classify(dso, symbol)] += share
        top[f"{dso} {symbol}"[:110]] += share
    return buckets, top


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS, help=", ".join(WORKLOADS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--binary", default=run.BERTH)
    parser.add_argument("--postgres", default=os.environ.get("BERTH_BENCH_POSTGRES_URL",
                        f"postgres://{os.environ.get('USER', 'postgres')}@127.0.0.1:5432/postgres"))
    parser.add_argument("--top", type=int, default=12, help="also list the hottest symbols")
    parser.add_argument("--again", metavar="DIR", action="append", default=[],
                        help="summarize an earlier run's directory (perf.data and result.json) instead")
    args = parser.parse_args()
    run.PINNED = True
    runs = []
    workdir = tempfile.mkdtemp(prefix="berth-profile-db-")
    databases = run.Databases(workdir, args.postgres)
    try:
        for directory in args.again:
            with open(os.path.join(directory, "result.json")) as f:
                result = json.load(f)
            runs.append((result.get("workload", directory), (result, *summarize(os.path.join(directory, "perf.data"))), None))
        if not args.again:
            for workload in [w.strip() for w in args.workloads.split(",") if w.strip()]:
                berth = profile(args.binary, workload, args.seconds, args.connections, databases)
                runs.append((workload, berth, native(workload, args.seconds, args.connections, databases)))
    finally:
        databases.cleanup()
    print("\n## CPU µs per request (server process; PostgreSQL's own processes apart)\n")
    print("| workload | berth req/s | host outside the sandbox | sandbox | database (host side) | berth total "
          "| PostgreSQL server | native req/s | native total | native's PostgreSQL | host outside ÷ native total |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workload, (result, buckets, _), theirs in runs:
        total = sum(buckets.values()) or 1
        parts = {HOST: 0.0, SANDBOX: 0.0, DATABASE: 0.0}
        for bucket, share in buckets.items():
            parts[PART.get(bucket, HOST)] += share / total * result["server_us"]
        n = theirs or {}
        print(f"| {workload} | {run.fmt(result['rps'])} | {parts[HOST]:.1f} | {parts[SANDBOX]:.1f} | "
              f"{parts[DATABASE]:.1f} | {result['server_us']:.1f} | {result['postgres_us']:.1f} | "
              f"{run.fmt(n.get('rps', float('nan')))} | {n.get('server_us', float('nan')):.1f} | "
              f"{n.get('postgres_us', float('nan')):.1f} | "
              f"{run.ratio(parts[HOST], n.get('server_us', 0)):.2f} |")
    for workload, (result, buckets, top), _ in runs:
        total = sum(buckets.values()) or 1
        print(f"\n### {workload}: {run.fmt(result['rps'])} req/s, p99 {run.fmt(result['p99_ms'], 2)} ms; "
              f"{result['server_us']:.1f} µs of server CPU per request\n")
        print("| where | part | share of samples | µs per request |\n|---|---|---:|---:|")
        for bucket, share in buckets.most_common():
            print(f"| {bucket} | {PART.get(bucket, HOST)} | {share / total * 100:.1f}% | "
                  f"{share / total * result['server_us']:.1f} |")
        if args.top:
            print("\nHottest symbols:\n")
            for symbol, share in top.most_common(args.top):
                print(f"- {share:.1f}% `{symbol}`")


if __name__ == "__main__":
    sys.exit(main())
