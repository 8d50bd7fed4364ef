"""The generated VCs beside the hand-written encoding they replaced, side by side.

``.venv/bin/python benchmarks/bench_encodings.py [--runs 3]`` checks out the
last commit whose ``prove`` ran the hand-written z3 encoding
(``HAND_WRITTEN``, in a temporary git worktree) and runs
``rmap-verify prove --variant fixed`` there and here, alternately, ``--runs``
times each, with this checkout's interpreter and packages.  It reports the
medians of: the whole run's wall time, the sum of its z3 obligations' times
and its slowest z3 obligation, and writes them to
proofs/results/bench_encodings.json.  The generated suite has more kinds of
obligation (call-site preconditions, realizability; reachability only with
--deep), so it is also run restricted to the kinds the hand-written one had
(``SAME_KINDS``, which keeps three flush-order obligations it lacked): that
run is the like-for-like comparison, the default one what a user waits
for.  It takes minutes; it is not a test.
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


# The kinds of obligation the hand-written suite had (the generated one adds
# reachability, call-site preconditions and realizability): the like-for-like run.
SAME_KINDS = ("-k", "not reachability and not call-site and not realizability")


def run_suite(tree: Path, report: Path, select: tuple[str, ...] = ()) -> dict[str, float]:
    """One ``prove --variant fixed`` in ``tree``: wall, z3 sum, slowest z3 obligation."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    argv = [sys.executable, "-c", CLI, "prove", "--variant", "fixed", *select, "--json", str(report)]
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
            suites = {
                "hand-written": (old, ()),
                "generated": (ROOT, ()),  # the default run: no long searches (--deep)
                "generated, same kinds": (ROOT, SAME_KINDS),
            }
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in suites}
            for i in range(args.runs):
                for name, (tree, select) in suites.items():
                    runs[name].append(run_suite(tree, Path(tmp) / f"{name}-{i}.json", select))
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
        f"{name} / hand-written": {
            key: round(medians[name][key] / medians["hand-written"][key], 2) for key in ("wall", "z3 sum")
        }
        for name in ("generated", "generated, same kinds")
    }
    body: dict[str, Any] = {
        "command": "benchmarks/bench_encodings.py",
        "hand_written_commit": HAND_WRITTEN,
        "runs": args.runs,
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "medians": medians,
        "same kinds": " ".join(SAME_KINDS),
        "ratios": ratio,
        "all runs": runs,
    }
    RESULTS.write_text(json.dumps(body, indent=1) + "\n")
    print(json.dumps({"medians": medians, "ratio": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
