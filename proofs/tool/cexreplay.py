"""Replaying a counterexample on impl/: what the proof claims must show there.

Every counterexample carries a trace (``detail["trace"]``, a list of trace
operations; an interleaving's is a schedule).  It is written to
reports/cex/ and replayed on the obligation's variant with
``proofs.interleave.schedule.ScheduleSession`` (``impl.trace.Session``,
which runs schedules too); the record of its last operation must show a
failure: an invariant violation, a spec mismatch or a
kernel fault.  A trace whose last record shows none of these does not
replay, which means the encoding disagrees with the code that runs: the
obligation is then reported as an error, never as a finding.

The replay also supplies what the console shows of a counterexample: the
concrete state before and after the last operation, the environment's
choices the spec reads off it, and the spec's state beside α(impl state).

Where the C oracle can be built (a seed file and a C compiler; impl/c/),
the trace is replayed on the seed compiled as C too, in the same process
(``proofs.tool.oracle.run.on_c``): ``replay["c"]`` says what the C's last
record shows and whether every record is the port's.  Without the oracle
``replay["c"]`` is ``{"unavailable": why}``, and for a schedule, which the
C cannot run, ``{"unsupported": why}``; neither that nor anything the C
does changes the obligation's outcome.

A proof whose outcome is a witness (a reachable deadlock) carries a trace
too; it is replayed the same way, and a witness that does not replay is an
error as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from impl.abstraction import env_alloc_fails, env_unmap_outcomes
from impl.kernel import SWAP_NAMES
from impl.trace import TraceError
from proofs.interleave.schedule import ScheduleSession, is_schedule
from proofs.obligation import Obligation, Outcome

CEX_DIR = Path("reports/cex")
C_RUNS_NO_SCHEDULE = "the C oracle runs one path at a time: it cannot replay a concurrent schedule"
NO_REPLAY = "counterexample does not replay"


def safe_name(name: str) -> str:
    """A name fit for a file name or a pytest id: runs of other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name).strip("_")


def trace_path(obligation: Obligation, cex_dir: Path) -> Path:
    return cex_dir / f"{safe_name(obligation.name)}-{obligation.variant}.jsonl"


def shown(record: dict[str, Any]) -> list[str]:
    """What a replay record reports as failing: invariant names, spec_mismatch, the fault kind."""
    out = sorted(record["violations"])
    if record["spec_mismatch"]:
        out.append("spec_mismatch")
    if record["fault"]:
        out.append(record["fault"]["kind"])
    return out


def _state(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a replay record a reader compares before and after a step."""
    keys = ("rmap", "direct", "chain_nodes", "count", "flags")
    return {
        "pages": [{"pfn": p["pfn"], **{key: p[key] for key in keys}} for p in record["pages"]],
        "rss": {mm["name"]: mm["rss"] for mm in record["mms"]},
        "nr_reverse_maps": record["nr_reverse_maps"],
        "pte_chain_objects": record["pte_chain_objects"],
        "swap": record["swap"],
    }


def replay_counterexample(obligation: Obligation, trace: list[Any], cex_dir: Path) -> dict[str, Any]:
    """Write the trace to cex_dir, replay it, and say what its last step shows."""
    path = trace_path(obligation, cex_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(op) + "\n" for op in trace), encoding="utf-8")
    verdict: dict[str, Any] = {
        "path": str(path),
        "command": f"rmap-verify replay {path} --variant {obligation.variant}",
    }
    session = ScheduleSession(obligation.variant)
    try:
        for op in trace[:-1]:
            session.apply(op)
        before = session.record("before", None) if session.rmap is not None else None
        environment = None
        if before is not None and not is_schedule(trace):  # what a sequential operation reads
            outcomes = env_unmap_outcomes(session.k)
            environment = {
                "unmap": {pte: SWAP_NAMES[o] for pte, o in outcomes.items()},
                "alloc_fails": env_alloc_fails(session.k),
            }
        last = session.apply(trace[-1])
    except TraceError as why:
        return {**verdict, "replays": False, "shows": [], "error": f"the trace is malformed: {why}"}
    finally:
        session.close()
    failing = shown(last)
    return {
        **verdict,
        "replays": bool(failing),
        "shows": failing,
        "last_op": trace[-1],
        "result": last["result"],
        "fault": last["fault"],
        "precondition": last["precondition"],
        "violations": last["violations"],
        "spec_mismatch": last["spec_mismatch"],
        "environment": environment,
        "before": None if before is None else _state(before),
        "after": _state(last),
        "c": _on_c(trace, obligation.variant),
    }


def _on_c(trace: list[Any], variant: str) -> dict[str, Any]:
    """The trace on the seed compiled as C, beside the port (never raises)."""
    if is_schedule(trace):
        return {"unsupported": C_RUNS_NO_SCHEDULE}
    from proofs.tool.oracle.run import on_c  # the oracle is loaded only where a counterexample needs it

    try:
        return on_c(trace, variant)
    except Exception as why:  # the oracle's own trouble is never the obligation's
        return {"error": f"{type(why).__name__}: {why}"}


def checked(obligation: Obligation, outcome: Outcome, cex_dir: Path) -> Outcome:
    """The outcome with its counterexample (or witness) replayed; an error when it does not replay."""
    trace = outcome.detail.get("trace")
    witness = outcome.status == "proved" and isinstance(trace, list) and bool(trace)
    if outcome.status != "counterexample" and not witness:
        return outcome
    if not isinstance(trace, list) or not trace:
        detail = {**outcome.detail, "error": f"{NO_REPLAY}: the counterexample carries no trace"}
        return Outcome("error", outcome.seconds, detail)
    replay = replay_counterexample(obligation, trace, cex_dir)
    detail = {**outcome.detail, "replay": replay}
    if replay["replays"]:
        return Outcome(outcome.status, outcome.seconds, detail)
    shows_nothing = f"its last step shows no violation, mismatch or fault on {obligation.variant}"
    why = replay.get("error") or shows_nothing
    return Outcome("error", outcome.seconds, {**detail, "error": f"{NO_REPLAY}: {why}"})
