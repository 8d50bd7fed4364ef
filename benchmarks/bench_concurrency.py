"""How exhaustive interleaving grows with the world: ``.venv/bin/python benchmarks/bench_concurrency.py``.

For worlds that grow in one dimension at a time (paths, ptes, mms) it
explores every interleaving of the fixed variant with spin_trylock (the
seed's locking) and with a blocking spin_lock, deduplicated, and for the
smaller worlds also the whole tree of schedules without dedup (what the
state hashing saves).  It prints a table and writes it to
proofs/results/bench_concurrency.json.  Not part of the default tests.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from proofs.interleave.explore import explore
from proofs.interleave.world import World, make_world

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "proofs" / "results" / "bench_concurrency.json"
VARIANT = "fixed"

# (dimension, make_world arguments: mms, ptes, faults, zaps[, reclaims])
SERIES: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("paths", (2, 4, 1, 1)),
    ("paths", (2, 4, 2, 1)),
    ("paths", (2, 4, 2, 2)),
    ("paths", (2, 4, 2, 2, 2)),
    ("ptes", (2, 3, 1, 1)),
    ("ptes", (2, 5, 1, 1)),
    ("ptes", (2, 6, 1, 1)),
    ("mms", (1, 4, 1, 1)),
    ("mms", (3, 4, 1, 1)),
    ("mms", (4, 4, 1, 1)),
)
TREE_UP_TO_PATHS = 4  # the undeduplicated tree only for worlds this small


def measure(world: World, *, blocking: bool, dedup: bool, runs: int, budget: float) -> dict[str, Any]:
    times, found = [], None
    for _ in range(runs):
        found = explore(world, VARIANT, blocking=blocking, budget=budget, dedup=dedup)
        times.append(found.seconds)
        if not found.complete:
            break
    assert found is not None
    return {
        "complete": found.complete,
        "states": found.states,
        "transitions": found.transitions,
        "max_depth": found.max_depth,
        "seconds": round(statistics.median(times), 3),
        "deadlock_states": len(found.deadlocks),
        "trylock_failures": found.trylock_failures,
        "averted_deadlocks": found.averted_deadlocks,
    }


def row(dimension: str, args: tuple[int, ...], runs: int, budget: float) -> dict[str, Any]:
    world = make_world(*args)
    out: dict[str, Any] = {"grows": dimension, "world": world.name, **world.sizes()}
    out["trylock"] = measure(world, blocking=False, dedup=True, runs=runs, budget=budget)
    out["blocking"] = measure(world, blocking=True, dedup=True, runs=runs, budget=budget)
    if len(world.paths) <= TREE_UP_TO_PATHS:
        out["tree"] = measure(world, blocking=False, dedup=False, runs=1, budget=budget)
    return out


def _count(m: dict[str, Any] | None, key: str) -> str:
    if m is None:
        return "-"
    return f"{m[key]}" if m["complete"] else f">{m[key]} (budget)"


def render(rows: list[dict[str, Any]]) -> str:
    header = (
        "grows",
        "paths",
        "mms",
        "ptes",
        "trylock states",
        "transitions",
        "depth",
        "s",
        "averted",
        "blocking states",
        "deadlocks",
        "s",
        "tree states",
        "s",
    )
    lines = [header]
    for r in rows:
        t, b, tree = r["trylock"], r["blocking"], r.get("tree")
        lines.append(
            (
                r["grows"],
                str(r["paths"]),
                str(r["mms"]),
                str(r["ptes"]),
                _count(t, "states"),
                str(t["transitions"]),
                str(t["max_depth"]),
                f"{t['seconds']:.2f}",
                str(t["averted_deadlocks"]),
                _count(b, "states"),
                str(b["deadlock_states"]),
                f"{b['seconds']:.2f}",
                _count(tree, "states"),
                f"{tree['seconds']:.2f}" if tree else "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per measurement (median time)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per exploration")
    args = parser.parse_args()
    rows = []
    for dimension, world_args in SERIES:
        rows.append(row(dimension, world_args, args.runs, args.budget))
        print(f"  {rows[-1]['world']}: {rows[-1]['trylock']['seconds']} s", file=sys.stderr, flush=True)
    table = render(rows)
    print(f"Exhaustive interleavings, variant {VARIANT}, one page; times in seconds (median of {args.runs})")
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "variant": VARIANT,
        "runs": args.runs,
        "budget_seconds": args.budget,
        "python": platform.python_version(),
        "rows": rows,
        "table": table,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
