"""The generated VCs beside the hand-written encoding they replaced, side by side.

``.venv/bin/python benchmarks/bench_encodings.py [--runs 3]`` checks out the
last commit whose ``prove`` ran the hand-written z3 encoding
(``HAND_WRITTEN``, in a temporary git worktree) and runs
``rmap-verify prove --variant fixed`` there and here, alternately, ``--runs``
times each, with this checkout's interpreter and packages.  It reports the
medians of: the whole run's wall time, the sum of its z3 obligations' times
and its slowest z3 obligation, and writes them to
proofs/results/bench_encodings.json.  The two suites are not the same list
(the generated one has more obligations, e.g. flush order and
realizability): the z3 columns compare the encodings, the wall column what
a user waits for.  It takes minutes; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "proofs" / "results" / "bench_encodings.json"
HAND_WRITTEN = "3781ce3"  # the parent of f4aac05, which retired the hand-written encoding
CLI = "import sys; from proofs.tool.cli import main; sys.exit(main())"


def run_suite(tree: Path, report: Path) -> dict[str, float]:
    """One ``prove --variant fixed`` in ``tree``: wall, z3 sum, slowest z3 obligation."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    argv = [sys.executable, "-c", CLI, "prove", "--variant", "fixed", "--json", str(report)]
    proc = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_encodings: prove failed in {tree} (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    obligations = json.loads(report.read_text())["obligations"]
    z3 = [o["seconds"] for o in obligations if "z3" in o["method"]]
    return {
        "wall": wall,
        "z3 sum": sum(z3),
        "z3 max": max(z3),
        "obligations": len(obligations),
        "z3": len(z3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "hand-written"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), HAND_WRITTEN],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            trees = {"hand-written": old, "generated": ROOT}
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for i in range(args.runs):
                for name, tree in trees.items():
                    runs[name].append(run_suite(tree, Path(tmp) / f"{name}-{i}.json"))
                    print(
                        f"run {i + 1}/{args.runs} {name}: "
                        + ", ".join(f"{k} {v:.1f}" for k, v in runs[name][-1].items())
                    )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, capture_output=True)
    medians = {
        name: {key: round(statistics.median(r[key] for r in rs), 2) for key in rs[0]}
        for name, rs in runs.items()
    }
    ratio = {
        key: round(medians["generated"][key] / medians["hand-written"][key], 2) for key in ("wall", "z3 sum")
    }
    body: dict[str, Any] = {
        "command": "benchmarks/bench_encodings.py",
        "hand_written_commit": HAND_WRITTEN,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "medians": medians,
        "ratio generated / hand-written": ratio,
        "all runs": runs,
    }
    RESULTS.write_text(json.dumps(body, indent=1) + "\n")
    print(json.dumps({"medians": medians, "ratio": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
