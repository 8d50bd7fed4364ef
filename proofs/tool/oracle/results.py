"""proofs/results/c-oracle.json: every finding and every committed counterexample on the C.

``python -m proofs.tool.oracle`` replays each finding's trace on the port
(variant seed) and on the C, once more on the sanitizer build, and every
counterexample of proofs/results/prove-seed.json on the C, and writes the
results file that docs/c-oracle.md and docs/findings/ show
(proofs/tool/docgen/c_oracle.py).  Exit 0 when every finding shows on the
C what it shows on the port, 1 when one does not, 2 when the oracle cannot
be built.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from impl.c.build import BuildError
from proofs.findings import FINDINGS
from proofs.interleave.schedule import is_schedule
from proofs.tool.cexreplay import shown
from proofs.tool.oracle.run import in_process, on_c, sanitized_replay, side_by_side
from proofs.tool.paths import RESULTS, ROOT

RESULTS_FILE = RESULTS / "c-oracle.json"
PROVE_SEED = RESULTS / "prove-seed.json"
CALLERS = ("map_pte ", "zap_pte ", "reclaim ")  # callers.c's functions: where a leak's stack is cut


def finding_results(seed: str | None = None) -> dict[str, Any]:
    """Per finding: the port's and the C's last record, whether the C shows
    what the finding names, and the sanitizers' verdict on the C."""
    oracle = in_process(seed)
    path = oracle.build.seed
    shown_path = f"../{path.relative_to(ROOT.parent)}" if path.is_relative_to(ROOT.parent) else str(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out: dict[str, Any] = {"seed": shown_path, "seed_sha256": digest, "findings": {}}
    for f in FINDINGS:
        lines = f.trace.read_text(encoding="utf-8").splitlines()
        trace = str(f.trace.relative_to(ROOT))
        pairs = list(side_by_side(lines, trace, oracle))
        _, report = sanitized_replay(lines, trace, seed)
        last = pairs[-1]
        out["findings"][f.id] = {
            "trace": trace,
            "shows": list(f.shows),
            "port_shows": shown(last.port),
            "c_shows": shown(last.c),
            "same_violation": set(f.shows) <= set(shown(last.c)),
            "differences": [{"line": p.line, "fields": p.differences} for p in pairs if p.differences],
            "port_last": last.port,
            "c_last": last.c,
            "sanitizers": {
                "verdict": report.verdict(),
                "leaked_objects": report.leaked_objects(),
                "leak_stacks": [to_the_caller(leak.stack) for leak in report.leaks],
                "undefined": report.undefined,
                "errors": report.errors,
            },
        }
    out["counterexamples"] = counterexample_results(seed=seed)
    return out


def counterexample_results(report: Path = PROVE_SEED, seed: str | None = None) -> dict[str, Any]:
    """Every counterexample of a prove report (``--json``) on the C: how
    many show a failure there too and how many match the port record for
    record; the obligations of those that do not, and of the concurrent
    schedules, which the C (one path at a time) does not run."""
    data = json.loads(report.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"report": str(report.relative_to(ROOT)), "counterexamples": 0, "replay": 0}
    out |= {"identical": 0, "not_identical": [], "schedules": []}
    for ob in data["obligations"]:
        trace = (ob.get("detail") or {}).get("trace")
        if ob.get("status") != "counterexample" or not trace:
            continue
        if is_schedule(trace):  # the C runs one path at a time: a schedule is not its to replay
            out["schedules"].append(ob["name"])
            continue
        verdict = on_c(trace, ob.get("variant", "seed"), seed)
        if "unavailable" in verdict:
            raise BuildError(verdict["unavailable"])
        out["counterexamples"] += 1
        out["replay"] += bool(verdict.get("shows"))
        if verdict.get("same_as_port"):
            out["identical"] += 1
        else:
            out["not_identical"].append(ob["name"])
    return out


def to_the_caller(stack: list[str]) -> list[str]:
    """A leak's allocation stack up to the caller (callers.c) that ran the seed."""
    end = next((i for i, frame in enumerate(stack) if frame.startswith(CALLERS)), None)
    return stack if end is None else stack[: end + 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs.tool.oracle", description=__doc__.splitlines()[0])
    parser.add_argument("--c", default=None, metavar="PATH", help="the seed to compile (default as for --c)")
    args = parser.parse_args(argv)
    try:
        results = finding_results(args.c)
    except BuildError as why:
        print(f"{parser.prog}: error: {why}", file=sys.stderr)
        return 2
    RESULTS_FILE.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    for ident, r in sorted(results["findings"].items()):
        print(f"{ident}: C shows {', '.join(r['c_shows'])}; {r['sanitizers']['verdict']}")
    cex = results["counterexamples"]
    print(f"counterexamples: {cex['identical']} of {cex['counterexamples']} give the port's records on the C")
    if cex["schedules"]:
        print(f"not run on the C (schedules: one path at a time there): {', '.join(cex['schedules'])}")
    print(f"wrote {RESULTS_FILE.relative_to(ROOT)}; run `rmap-verify docs` to show it")
    return 0 if all(r["same_violation"] for r in results["findings"].values()) else 1
