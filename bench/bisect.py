#!/usr/bin/env python3
"""Where the request path got slower: older commits' berth, each with its
own `hello` and `items` components, beside the current release build and
bench/native, in the same alternating rounds (pinned; berth at its default
log level).

    python3 bench/bisect.py 2e662bc 7296870 5050145 affb416

Each commit is built once, in a worktree of its own (`target/bisect/tree`)
with a target directory of its own (`target/bisect/target`: building old
commits in the repository's own target directory would overwrite its
workspace crates), and kept under `target/bisect/<commit>/`. Prints one
Markdown row per commit and workload. Standard library and git only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

BISECT = os.path.join(run.TARGET, "bisect")
PATHS = ["/hello/bench", "/items/42"]


def build(commit):
    """berth and its two components at `commit`, built once."""
    kept = os.path.join(BISECT, commit)
    if os.path.exists(os.path.join(kept, "berth")):
        return kept
    tree = os.path.join(BISECT, "tree")
    if not os.path.exists(tree):
        subprocess.run(["git", "worktree", "add", "--detach", tree, commit], cwd=run.ROOT, check=True)
    subprocess.run(["git", "checkout", "-q", "--detach", commit], cwd=tree, check=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(BISECT, "target"))
    run.log(f"building {commit}")
    subprocess.run(["cargo", "build", "--release", "-p", "berth"], cwd=tree, env=env, check=True)
    subprocess.run(["cargo", "build", "--profile", "plugin", "--target", "wasm32-wasip2", "-p", "hello", "-p", "items"],
                   cwd=tree, env=env, check=True)
    os.makedirs(kept, exist_ok=True)
    out = env["CARGO_TARGET_DIR"]
    shutil.copy(os.path.join(out, "release", "berth"), kept)
    for name in ("hello", "items"):
        shutil.copy(os.path.join(out, "wasm32-wasip2", "plugin", f"{name}.wasm"), kept)
    return kept


def start(workdir, name, binary, components):
    server = run.start_berth(workdir, name, binary=binary)
    for service in ("items", "hello"):
        with open(os.path.join(components, f"{service}.wasm"), "rb") as f:
            run.deploy(server, service, f.read())
    run.seed(server)
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--binary", default=run.BERTH, help="the current berth (default: the release build)")
    args = parser.parse_args()
    kept = {commit: build(commit) for commit in args.commits}
    run.PINNED = True
    settings = {"warmup": 1, "duration": 3, "rounds": 3, "connections": 16}
    workdir = tempfile.mkdtemp(prefix="berth-bisect-")
    native = run.start_native("sqlite://" + os.path.join(workdir, "native.db"))
    run.seed(native)
    current = start(workdir, "current", args.binary, os.path.join(run.COMPONENTS, "examples"))
    print("| commit | workload | req/s | ÷ native | current req/s | current ÷ native | native req/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    try:
        for commit, directory in kept.items():
            old = start(workdir, commit, os.path.join(directory, "berth"), directory)
            try:
                for path in PATHS:
                    r = run.alternate({"native": native, "current": current, commit: old}, path, settings)
                    n = r["native"]["rps"]
                    print(f"| {commit} | {path} | {run.fmt(r[commit]['rps'])} | {r[commit]['rps'] / n:.3f} | "
                          f"{run.fmt(r['current']['rps'])} | {r['current']['rps'] / n:.3f} | {run.fmt(n)} |", flush=True)
            finally:
                old.stop()
    finally:
        current.stop()
        native.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
