#!/usr/bin/env python3
"""Where one request's time goes: berth (release build) pinned to CPU 0 under
oha load from CPU 1, sampled by `perf record`, and every sample sorted into
the buckets of bench/README.md by the function it was taken in.

    python3 bench/profile.py                       # hello, items read, Python hello
    python3 bench/profile.py --workloads hello --reuse

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

# (workload, component, deployed as, path)
WORKLOADS = {
    "hello": ("hello", "hello", "/hello/bench"),
    "items read": ("items", "items", "/items/42"),
    "Python hello": ("test/hello-py", "hello-py", "/hello-py/bench"),
    "JavaScript hello": ("hello-js", "hello-js", "/hello-js/bench"),
}

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


def classify(dso, symbol):
    text = f"{dso} {symbol}"
    for bucket, pattern in BUCKETS:
        if re.search(pattern, text):
            return bucket
    return "other"


def profile(binary, workload, reuse, seconds, connections):
    built_as, name, path = WORKLOADS[workload]
    workdir = tempfile.mkdtemp(prefix="berth-profile-")
    env = {}
    if reuse:
        env["BERTH_CONFIG"] = run.reuse_config(workdir, "profile", [name])
    server = run.start_berth(workdir, "profile", env=env, binary=binary)
    try:
        run.deploy(server, name, run.component(built_as))
        if name == "items":
            run.seed(server)
        run.load(server, path, 2, connections)
        data = os.path.join(workdir, "perf.data")
        record = subprocess.Popen(["perf", "record", "-F", "2000", "-g", "-o", data, "-p",
                                   str(server.process.pid), "--", "sleep", str(seconds)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = run.load(server, path, seconds + 1, connections)
        record.wait()
    finally:
        server.stop()
    with open(os.path.join(workdir, "result.json"), "w") as f:
        json.dump(dict(result, workload=workload + (" (reuse)" if reuse else "")), f)
    return (result, *summarize(data))


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
    parser.add_argument("--workloads", default="hello,items read,Python hello")
    parser.add_argument("--reuse", action="store_true", help="with reuse_instances on")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--binary", default=run.BERTH)
    parser.add_argument("--top", type=int, default=12, help="also list the hottest symbols")
    parser.add_argument("--again", metavar="DIR", action="append", default=[],
                        help="summarize an earlier run's directory (perf.data and result.json) instead")
    args = parser.parse_args()
    runs = []
    for workdir in args.again:
        with open(os.path.join(workdir, "result.json")) as f:
            result = json.load(f)
        runs.append((result.get("workload", workdir), (result, *summarize(os.path.join(workdir, "perf.data")))))
    if not args.again:
        for workload in [w.strip() for w in args.workloads.split(",") if w.strip()]:
            runs.append((workload, profile(args.binary, workload, args.reuse, args.seconds, args.connections)))
    for workload, (result, buckets, top) in runs:
        total = sum(buckets.values()) or 1
        print(f"\n### {workload}{' (reuse)' if args.reuse else ''}: {run.fmt(result['rps'])} req/s, "
              f"p99 {run.fmt(result['p99_ms'], 2)} ms; {run.fmt(1e6 / result['rps'], 1)} µs of server CPU per request\n")
        print("| where | share of samples | µs per request |\n|---|---:|---:|")
        for bucket, share in buckets.most_common():
            print(f"| {bucket} | {share / total * 100:.1f}% | {share / total * 1e6 / result['rps']:.1f} |")
        if args.top:
            print("\nHottest symbols:\n")
            for symbol, share in top.most_common(args.top):
                print(f"- {share:.1f}% `{symbol}`")


if __name__ == "__main__":
    sys.exit(main())
