"""Every benchmark of the verifier, one command: ``.venv/bin/python benchmarks/bench.py``.

Each section prints a table of medians over ``--runs`` runs:

1. obligations: every proof obligation's time (``rmap-verify prove
   --variant all --jobs 1``, so no two obligations share the cores) and the
   whole suite's wall time, sequential and on every core;
2. findings: time to each finding's counterexample (the seed obligations
   that fail by a finding);
3. bounded: the bounded unrolling of try_to_unmap in z3 for chain lengths
   1 to 20 (benchmarks/bounded.py) beside the unbounded proof of the same
   function, whose time does not depend on the length;
4. replay: throughput of the executable model (impl.trace.replay, every
   record with its invariant and refinement checks) in operations a second;
5. contracts: time of ``rmap-verify contracts`` per variant;
6. concurrency: benchmarks/bench_concurrency.py's own tables, when it exists.

Results go to proofs/results/bench.json; ``rmap-verify docs`` renders its
tables into docs/benchmarks.md (proofs/tool/docgen/bench_tables.py).  Not
part of the default tests: it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import bounded

from impl.trace import replay
from proofs.tool.docgen.bench_tables import render

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "proofs" / "results" / "bench.json"
CLI = (sys.executable, "-c", "import sys; from proofs.tool.cli import main; sys.exit(main())")
MAX_CHAIN = 20
Row = list[Any]


def median(values: list[float]) -> float:
    return statistics.median(values)


def _run(argv: list[str], timeout: float | None = None) -> tuple[int, float, str]:
    start = time.perf_counter()
    proc = subprocess.run([*CLI, *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, time.perf_counter() - start, proc.stdout + proc.stderr


# ------------------------------------------------------------ 1, 2: obligations


def bench_obligations(runs: int, timeout: float) -> dict[str, Any]:
    """Per-obligation seconds from the runner's JSON, and the suite's wall time."""
    per: dict[str, list[float]] = defaultdict(list)
    info: dict[str, dict[str, Any]] = {}
    walls: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for jobs in (1, 0):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "prove.json"
                argv = ["prove", "--variant", "all", "--jobs", str(jobs), "--timeout", str(timeout)]
                code, wall, text = _run([*argv, "--json", str(out)])
                if not out.exists():
                    raise SystemExit(f"rmap-verify prove wrote no report (exit {code}):\n{text[-2000:]}")
                report = json.loads(out.read_text())
            walls["sequential" if jobs == 1 else f"{os.cpu_count()} processes"].append(wall)
            if jobs != 1:
                continue
            for ob in report["obligations"]:
                per[ob["ident"]].append(ob["seconds"])
                statuses = info.setdefault(ob["ident"], {**ob, "statuses": []})["statuses"]
                statuses.append(ob["status"])
    obligations = [
        {
            "ident": ident,
            "function": info[ident]["function"],
            "property": info[ident]["property"],
            "variant": info[ident]["variant"],
            "method": info[ident]["method"],
            "finding": info[ident]["finding"],
            "statuses": sorted(set(info[ident]["statuses"])),
            "median_seconds": round(median(seconds), 3),
            "runs": len(seconds),
        }
        for ident, seconds in per.items()
    ]
    return {
        "timeout": timeout,
        "obligations": obligations,
        "suite_wall_seconds": {k: round(median(v), 2) for k, v in walls.items()},
    }


def bench_bounded(runs: int, timeout: float) -> dict[str, Any]:
    cases = bounded.agrees_with_impl()
    rows = []
    stopped: dict[str, int] = {}
    for n in range(1, MAX_CHAIN + 1):
        row: dict[str, Any] = {"n": n}
        for variant in ("fixed", "seed"):
            if variant in stopped:
                row[variant] = {"status": f"not run (n={stopped[variant]} gave no answer in {timeout:g} s)"}
                continue
            results = [bounded.check(n, variant, timeout)]
            while len(results) < runs and results[-1].status in ("proved", "counterexample"):
                results.append(bounded.check(n, variant, timeout))
            statuses = sorted({r.status for r in results})
            row[variant] = {
                "status": "/".join(statuses),
                "median_seconds": round(median([r.seconds for r in results]), 3),
                "failing": results[0].failing,
            }
            if not set(statuses) <= {"proved", "counterexample"}:  # longer chains only take longer
                stopped[variant] = n
        rows.append(row)
        print(f"  bounded n={n}: {row}", flush=True)
    return {"timeout": timeout, "checked_against_impl": cases, "lengths": rows}


def random_trace(rng: random.Random, n_ops: int, n_ptes: int = 8, n_mms: int = 3) -> Iterator[str]:
    """A trace of caller-level operations on two pages, deterministic for a seed."""
    mms = [f"M{i}" for i in range(n_mms)]
    yield json.dumps(
        {
            "op": "world",
            "pages": [{"pfn": 1, "count": 1, "mapping": "file"}, {"pfn": 2, "count": 1, "mapping": "file"}],
            "mms": [{"name": m, "vmas": [{"start": 0, "end": 0x100000}]} for m in mms],
            "ptes": [
                {"name": f"p{i}", "mm": mms[i % n_mms], "address": (i + 1) * 0x1000} for i in range(n_ptes)
            ],
        }
    )
    ops: list[Callable[[], dict[str, Any]]] = [
        lambda: {"op": "map", "pte": f"p{rng.randrange(n_ptes)}", "pfn": rng.choice((1, 2))},
        lambda: {"op": "map", "pte": f"p{rng.randrange(n_ptes)}", "pfn": rng.choice((1, 2))},
        lambda: {"op": "zap", "pte": f"p{rng.randrange(n_ptes)}"},
        lambda: {"op": "referenced", "pfn": rng.choice((1, 2))},
        lambda: {"op": "reclaim", "pfn": rng.choice((1, 2))},
        lambda: {"op": "set_pte", "pte": f"p{rng.randrange(n_ptes)}", "young": rng.random() < 0.5},
        lambda: {"op": "lock", "mm": rng.choice(mms)},
        lambda: {"op": "unlock", "mm": rng.choice(mms)},
        lambda: {"op": "fail_alloc", "n": rng.randrange(2)},
    ]
    for _ in range(n_ops):
        yield json.dumps(rng.choice(ops)())


def bench_replay(runs: int, n_ops: int = 3000) -> dict[str, Any]:
    """Operations a second; also how many records stopped in a kernel fault
    (after one, e.g. the seed's Oops, later operations often fault at once)."""
    out: dict[str, Any] = {"ops_per_trace": n_ops}
    for variant in ("fixed", "seed"):
        rates, faulted = [], 0
        for run in range(runs):
            lines = list(random_trace(random.Random(run), n_ops))
            start = time.perf_counter()
            records = list(replay(lines, "<bench>", variant))
            rates.append(len(records) / (time.perf_counter() - start))
            faulted += sum(bool(r["fault"]) for r in records)
        out[variant] = {
            "ops_per_second": round(median(rates)),
            "faulted_share": round(faulted / (runs * n_ops), 3),
        }
    return out


# ------------------------------------------------------------ 5: contracts


def bench_contracts(runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in ("fixed", "seed"):
        times, codes = [], set()
        for _ in range(runs):
            code, wall, _ = _run(["contracts", "--variant", variant])
            times.append(wall)
            codes.add(code)
        out[variant] = {"median_seconds": round(median(times), 2), "exit_codes": sorted(codes)}
    return out


# ------------------------------------------------------------ 6: concurrency


def bench_concurrency(runs: int) -> dict[str, Any]:
    script = ROOT / "benchmarks" / "bench_concurrency.py"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), "--runs", str(runs)], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "exit_code": proc.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "output": proc.stdout.strip() or proc.stderr.strip()[-2000:],
    }


# ------------------------------------------------------------ output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median; default 3)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per solver query (default 60)")
    parser.add_argument(
        "--only",
        choices=("obligations", "bounded", "replay", "contracts", "concurrency"),
        action="append",
        help="run only these sections (repeatable); the page and bench.json are then not written",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    wanted = set(args.only or ("obligations", "bounded", "replay", "contracts", "concurrency"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    results: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit.stdout.strip() or "unknown",
        "runs": args.runs,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "z3": version("z3-solver")},
    }
    if "obligations" in wanted:
        if (ROOT / "proofs" / "registry.py").exists():
            print("obligations ...", flush=True)
            results["obligations"] = bench_obligations(args.runs, args.timeout)
        else:
            results["obligations_skipped"] = "proofs/registry.py does not exist yet"
    if "bounded" in wanted:
        print("bounded unrolling ...", flush=True)
        results["bounded"] = bench_bounded(args.runs, args.timeout)
    if "replay" in wanted:
        print("replay ...", flush=True)
        results["replay"] = bench_replay(args.runs)
    if "contracts" in wanted:
        if (ROOT / "proofs" / "crosshair").exists():
            print("contracts ...", flush=True)
            results["contracts"] = bench_contracts(args.runs)
        else:
            results["contracts_skipped"] = "proofs/crosshair/ does not exist yet"
    if "concurrency" in wanted and (ROOT / "benchmarks" / "bench_concurrency.py").exists():
        print("concurrency ...", flush=True)
        results["concurrency"] = bench_concurrency(args.runs)
    if args.only:
        print(json.dumps(results, indent=1))
        return 0
    print(render(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}; run `rmap-verify docs` for docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
