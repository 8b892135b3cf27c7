"""`cargo xtask bench --check`: a short run that keeps the request path from
sliding back.

berth and native serve the throughput workloads side by side (pinned, short
alternating rounds); each berth ÷ native ratio is compared with the ratio
committed in bench/results.json for the same workload and mode, and any
that fell by more than 15% is named (exit status 1). With
BERTH_BENCH_BASELINE naming an older berth binary, it runs beside the new
one and its ratios are printed too: that is how a regression is bisected.
Writes nothing to the repository.
"""

import json
import os

import run

# A ratio may fall this much below the committed one before the check fails.
TOLERANCE = 0.15
# The workloads the check runs (every one the committed results have, less
# FastAPI and wasmtime serve, which the check does not start).
PEERS = ("berth", "berth (reuse)")


def measure(workdir, databases, settings, engines, baseline):
    """berth, berth (reuse), native and, if given, the baseline binary, on
    every throughput workload."""
    results = {}
    for engine in engines:
        run.log(f"check: throughput on {engine}")
        peers = run.start_peers(workdir, databases, engine, with_fastapi=False, with_reuse=True)
        if baseline:
            url = databases.url("baseline", engine) if engine == "postgres" else None
            old = run.start_berth(workdir, f"baseline-{engine}", database_url=url, binary=baseline)
            run.deploy(old, "items", run.component("items"))
            run.deploy(old, "hello", run.component("hello"))
            run.seed(old)
            peers["baseline"] = old
        try:
            for workload, path, method, body in run.WORKLOADS:
                if workload == "hello" and engine != "sqlite":
                    continue
                name = workload if workload == "hello" else f"{workload} ({engine})"
                results[name] = run.alternate(peers, path, settings, method, body)
        finally:
            for server in peers.values():
                server.stop()
    return results


def compare(results, committed, mode):
    """Rows of (workload, peer, committed ratio, ratio now, fell) and the
    names of those that fell by more than TOLERANCE."""
    rows, fell = [], []
    before = committed.get("throughput", {}).get(mode, {})
    for workload, peers in results.items():
        native = peers["native"]["rps"]
        for peer in PEERS + ("baseline",):
            if peer not in peers:
                continue
            now = run.ratio(peers[peer]["rps"], native)
            old = before.get(workload, {})
            then = run.ratio(old[peer]["rps"], old["native"]["rps"]) if peer in old and "native" in old else None
            dropped = then is not None and peer != "baseline" and now < then * (1 - TOLERANCE)
            rows.append((workload, peer, then, now, dropped))
            if dropped:
                fell.append(f"{workload}, {peer}: {then:.2f}× → {now:.2f}× native")
    return rows, fell


def main(args, databases, engines, workdir):
    settings = {"connections": 16, "warmup": 1, "duration": 3, "rounds": 3}
    committed_path = os.path.join(run.ROOT, "bench", "results.json")
    with open(committed_path) as f:
        committed = json.load(f)
    mode = "pinned"
    run.PINNED = True
    baseline = os.environ.get("BERTH_BENCH_BASELINE")
    results = measure(workdir, databases, settings, engines, baseline)
    rows, fell = compare(results, committed, mode)
    print(f"\n## berth ÷ native, now and as committed ({committed['machine']['commit']}), {mode}\n")
    print("| workload | peer | committed | now | req/s now | native req/s |\n|---|---|---:|---:|---:|---:|")
    for workload, peer, then, now, dropped in rows:
        print(f"| {workload} | {peer} | {'—' if then is None else f'{then:.2f}×'} | {now:.2f}×{' **fell**' if dropped else ''} "
              f"| {run.fmt(results[workload][peer]['rps'])} | {run.fmt(results[workload]['native']['rps'])} |")
    if fell:
        print(f"\nFell by more than {TOLERANCE:.0%} against bench/results.json:")
        for line in fell:
            print(f"- {line}")
        return 1
    print(f"\nNo workload fell by more than {TOLERANCE:.0%}.")
    return 0
