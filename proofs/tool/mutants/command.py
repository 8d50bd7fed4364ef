"""``rmap-verify mutants``: run, report, and the mutation page's table."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

from proofs.tool import cli
from proofs.tool.cli import EXIT_FAILED, EXIT_OK
from proofs.tool.mutants.generate import Mutant, enumerate_mutants, quick_subset
from proofs.tool.mutants.judge import BaselineFailed, Verdict, head_commit, make_copy, run_mutants
from proofs.tool.mutants.scope import (
    BLIND,
    DEFAULT_REPORT,
    EQUIVALENT,
    SCOPE,
    TIMEOUT_FACTOR,
    TIMEOUT_MIN,
    Equivalent,
    stage_report,
)

# ------------------------------------------------------------------ report


def summarize(verdicts: Iterable[Verdict], alone: bool = False) -> dict[str, Any]:
    """The totals; ``alone`` (a stage run alone) counts the survivors BLIND names too."""
    verdicts = list(verdicts)
    statuses = ("killed", "survived", "equivalent", *(("blind",) if alone else ()))
    count = {s: sum(v.status == s for v in verdicts) for s in statuses}
    judged = len(verdicts) - count["equivalent"]
    return {
        "mutants": len(verdicts),
        **count,
        "timeouts": sum(bool(v.killed_by and v.killed_by.endswith(": timeout")) for v in verdicts),
        "score": round(count["killed"] / judged, 4) if judged else None,
    }


def stale_equivalents(mutants: list[Mutant], entries: dict[str, Equivalent] = EQUIVALENT) -> list[str]:
    """Entries (of EQUIVALENT, or of a stage's BLIND) that name no mutant,
    or a mutant on another line."""
    by_id = {m.ident: m for m in mutants}
    return [
        f"{ident}: no such mutant"
        if ident not in by_id
        else f"{ident}: now mutates {by_id[ident].mutated_line!r}"
        for ident, eq in entries.items()
        if ident not in by_id or by_id[ident].mutated_line != eq.line
    ]


AGAIN = ("survived", "blind")  # what --again judges again


def _earlier(path: str, stage: str | None, mutants: list[Mutant]) -> dict[str, Any]:
    """The report --again starts from: a run of this stage alone over these mutants."""
    if stage is None:
        raise cli.UsageError("--again needs --stage: it re-judges one stage's survivors")
    try:
        body: dict[str, Any] = json.loads(Path(path).read_text())
        by_id = {m["ident"]: m for m in body["mutants"]}
        same = body["stage_alone"] == stage and set(by_id) == {m.ident for m in mutants}
    except (OSError, ValueError, KeyError, TypeError) as why:
        raise cli.UsageError(f"--again {path}: not a mutants report ({why})") from None
    if not same:
        raise cli.UsageError(f"--again {path}: not a run of the {stage} stage alone over today's mutants")
    return body


def run(args: argparse.Namespace) -> int:
    workers = cli.jobs(args.jobs)
    if args.report is not None:
        cli.writable_file(args.report, "--report")
    stage = args.stage
    default = stage_report(stage) if stage else DEFAULT_REPORT
    report = args.report or (None if args.quick else str(default))
    commit = head_commit()  # what the copies are made of, now: HEAD may move while it runs
    with tempfile.TemporaryDirectory() as tmp:
        mutants = enumerate_mutants(make_copy(Path(tmp) / "scan"))
    earlier = _earlier(args.again, stage, mutants) if args.again else None
    stale = stale_equivalents(mutants) + (stale_equivalents(mutants, BLIND.get(stage, {})) if stage else [])
    chosen = quick_subset(mutants) if args.quick else mutants
    if earlier is not None:
        status = {m["ident"]: m["status"] for m in earlier["mutants"]}
        chosen = [m for m in chosen if status[m.ident] in AGAIN]
    workers = min(workers, len(chosen)) or 1  # each worker is a private copy of the project
    alone = f", judged by the {stage} stage alone" if stage else ""
    print(f"{len(chosen)} of {len(mutants)} mutants, {workers} workers{alone}", flush=True)
    start = time.perf_counter()

    done = iter(range(1, len(chosen) + 1))

    def show(v: Verdict) -> None:
        at = f"[{next(done)}/{len(chosen)}]"
        if v.status != "killed":
            print(
                f"  {at} {v.status:10} {v.ident} (line {v.line}): {v.diff.splitlines()[-1].strip()}",
                flush=True,
            )
        else:
            print(f"  {at} killed     {v.ident} in {v.seconds:.0f} s by {v.killed_by}", flush=True)

    try:
        verdicts, info = run_mutants(chosen, workers, show, quick=args.quick, only=stage)
    except BaselineFailed as why:
        print(f"rmap-verify mutants: {why}", file=sys.stderr)
        return EXIT_FAILED
    seconds = time.perf_counter() - start
    again: dict[str, Any] = {}
    if earlier is not None:  # today's verdicts in place of the earlier ones, in the earlier order
        fresh = {v.ident: v for v in verdicts}
        verdicts = [fresh.get(m["ident"]) or Verdict(**m) for m in earlier["mutants"]]
        again = {"again_of": {"commit": earlier["commit"], "judged_again": sorted(fresh)}}
    totals = summarize(verdicts, alone=stage is not None)
    if report:
        body = {
            "tool": f"cosmic-ray {version('cosmic-ray')}",
            "commit": commit,
            "cores": os.cpu_count(),
            "quick": args.quick,
            "stage_alone": stage,
            "scope": {module: sorted(names) if names else "all" for module, names in SCOPE.items()},
            "killed_means": "a stage exits non-zero or times out; stages run in order until one fails"
            + "".join(f"; {s['name']}: {s['narrowed']}" for s in info["stages"] if s["narrowed"]),
            **info,
            "timeout": {"factor": TIMEOUT_FACTOR, "minimum_seconds": TIMEOUT_MIN},
            "seconds": round(seconds, 1),
            **again,
            "totals": totals,
            "stale_equivalents": stale,
            "mutants": [asdict(v) for v in verdicts],
        }
        cli.write_output(report, json.dumps(body, indent=1) + "\n", "--report")
    for line in stale:
        print(f"stale EQUIVALENT entry {line}")
    score = "n/a" if totals["score"] is None else f"{100 * totals['score']:.1f}%"
    print(
        (f"{stage} stage alone: kill rate " if stage else "mutation score ")
        + f"{score}: {totals['killed']} killed ({totals['timeouts']} by timeout), "
        f"{totals['survived']} survived, {totals['equivalent']} equivalent, "
        + (f"{totals['blind']} it cannot see (BLIND), " if stage else "")
        + f"of {totals['mutants']} mutants in {seconds:.0f} s"
    )
    return EXIT_FAILED if totals["survived"] or stale else EXIT_OK
