"""The C oracle against the port: random caller-level traces, op for op.

    .venv/bin/python benchmarks/bench_c_oracle.py              # 200 traces x 50 ops
    .venv/bin/python benchmarks/bench_c_oracle.py --ops 2000   # a quick look

Replays deterministic random traces (proofs/tool/oracle/traces.py, caller-level
operations only) on the port (variant seed) and on the C side by side,
counts the records that differ (must be 0), and times each side on the
same run: the port's ``Session.apply``, the C's ``CSession.apply`` (the C
run plus reading its state back and building the record), and the part of
that spent in the C library itself.  Then it replays the first traces
again on the sanitizer build, one process each, and compares
LeakSanitizer's count of leaked pte_chain objects with the port's.  Writes
proofs/results/bench_c_oracle.json, whose figures docs/c-oracle.md shows
(``rmap-verify docs``; proofs/tool/docgen/c_oracle.py renders them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any

from impl.c.build import compiler
from impl.c.compare import differences
from impl.c.native import InProcess
from impl.c.session import CSession
from impl.trace import Session
from proofs.tool.docgen.c_oracle import bench_table
from proofs.tool.oracle.run import in_process, lines_of, sanitized, sanitized_replay
from proofs.tool.oracle.traces import random_trace
from proofs.tool.paths import RESULTS as RESULTS_DIR
from proofs.tool.paths import ROOT

RESULTS = RESULTS_DIR / "bench_c_oracle.json"
LEAKED = re.compile(r"(\d+) live pte_chain object\(s\) on no page's chain")


class Timed:
    """The oracle, with the time spent inside its library counted."""

    def __init__(self, inner: InProcess) -> None:
        self.inner, self.build, self.seconds = inner, inner.build, 0.0
        self.owner: object = None

    def call(self, script: str) -> list[str]:
        start = time.perf_counter()
        try:
            return self.inner.call(script)
        finally:
            self.seconds += time.perf_counter() - start

    def close(self) -> None:
        return None


def _port_leaks(record: dict[str, Any]) -> int:
    found = [LEAKED.search(m) for m in record["violations"].get("count_pte_chain_objects", [])]
    return sum(int(m[1]) for m in found if m)


def compare(traces: list[list[dict[str, Any]]], leaks: list[int]) -> dict[str, Any]:
    """Both sides op for op; ``leaks`` gets each trace's leaked pte_chains
    at its end, by the port's count."""
    oracle = Timed(in_process())
    port_s = c_s = 0.0
    ops = divergent = 0
    first: dict[str, Any] | None = None
    outcomes: Counter[str] = Counter()
    for number, trace in enumerate(traces):
        port, c = Session("seed"), CSession(oracle)
        for line, op in enumerate(trace, 1):
            start = time.perf_counter()
            a = port.apply(op)
            middle = time.perf_counter()
            b = c.apply(op)
            c_s += time.perf_counter() - middle
            port_s += middle - start
            if op["op"] == "world":
                continue
            ops += 1
            outcomes[
                "fault " + b["fault"]["kind"]
                if b["fault"]
                else "precondition"
                if b["precondition"]
                else "ran"
            ] += 1
            outcomes["violating records"] += bool(b["violations"])
            if diff := differences(a, b):
                divergent += 1
                first = first or {"trace": number, "line": line, "op": op, "fields": diff}
        leaks.append(_port_leaks(a))
    return {
        "ops": ops,
        "divergences": divergent,
        "first_divergence": first,
        "port": {"seconds": round(port_s, 3), "ops_per_second": round(ops / port_s)},
        "c": {
            "seconds": round(c_s, 3),
            "ops_per_second": round(ops / c_s),
            "native_seconds": round(oracle.seconds, 3),
            "native_ops_per_second": round(ops / oracle.seconds),
        },
        "outcomes": dict(sorted(outcomes.items())),
    }


def sanitize(traces: list[list[dict[str, Any]]], leaks: list[int], n: int) -> dict[str, Any]:
    """One sanitizer-build process per trace, for up to n traces the port
    says leak and n it says do not: its cost, and whether LeakSanitizer's
    leaked objects are the port's leaked pte_chains."""
    leaky = [i for i, count in enumerate(leaks) if count][:n]
    chosen = leaky + [i for i, count in enumerate(leaks) if not count][:n]
    agree = leaking = undefined = errors = ops = 0
    sanitized().close()  # the build, if any, is not a process's cost
    start = time.perf_counter()
    for i in chosen:
        records, report = sanitized_replay(lines_of(traces[i]), "<bench>")
        ops += len(records) - 1
        leaking += report.leaked_objects() > 0
        agree += report.leaked_objects() == leaks[i]
        undefined += len(report.undefined)
        errors += len(report.errors)
    seconds = time.perf_counter() - start
    return {
        "traces": len(chosen),
        "port_leaking": len(leaky),
        "ops": ops,
        "seconds": round(seconds, 2),
        "seconds_per_process": round(seconds / len(chosen), 3),
        "traces_leaking": leaking,
        "leaks_agree_with_port": agree,
        "ubsan_reports": undefined,
        "asan_errors": errors,
    }


def fault_cost(rounds: int = 2000) -> dict[str, float]:
    """Microseconds per world of two maps, with and without the second one
    oopsing (F3's SIGSEGV, caught by sigsetjmp in the library)."""
    oracle = in_process()
    world = "reset 1 1 2\npage 1 1 1 1 0 0\nmm\nvmas 0 1 0 16384 0\npte 0 4096\npte 0 8192\ninit\nmap 0 0 0\n"
    out = {}
    for name, fail in (("no_fault_us", 0), ("oops_us", 1)):
        start = time.perf_counter()
        for _ in range(rounds):
            oracle.call(f"{world}failnext {fail}\nmap 1 0 0")
        out[name] = round((time.perf_counter() - start) / rounds * 1e6, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000, help="caller-level operations (default 10000)")
    parser.add_argument("--per-trace", type=int, default=50, help="operations per trace (default 50)")
    parser.add_argument(
        "--sanitized", type=int, default=15, help="leaking and clean traces replayed on the sanitizer build"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-write", action="store_true", help="print the results only")
    args = parser.parse_args(argv)
    n_traces = -(-args.ops // args.per_trace)
    traces = [random_trace(random.Random(args.seed + i).randrange, args.per_trace) for i in range(n_traces)]
    cc = subprocess.run([compiler(), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    leaks: list[int] = []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    results = {
        "command": "benchmarks/bench_c_oracle.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit.stdout.strip() or "unknown",
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "compiler": cc,
        "seed": args.seed,
        "traces": n_traces,
        "ops_per_trace": args.per_trace,
        **compare(traces, leaks),
        "fault_cost": fault_cost(),
        "sanitizer": sanitize(traces, leaks, args.sanitized),
    }
    print(bench_table(results))
    if not args.no_write:
        RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}; run `rmap-verify docs` to show it")
    return 0 if results["divergences"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
