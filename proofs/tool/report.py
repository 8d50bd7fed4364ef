"""How ``rmap-verify prove`` shows its results: console, JSON and JUnit XML.

The console lists each obligation as it finishes (a live progress line on a
terminal), then the failures in detail and a summary line; the JSON report
is the machine-readable form docs/ reads; the JUnit report is one testcase
per obligation for CI front ends.
"""

from __future__ import annotations

import json
import os
import platform
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TextIO, get_args

from proofs.findings import finding
from proofs.obligation import Obligation, Outcome, Status

STATUSES: tuple[Status, ...] = get_args(Status)
ALWAYS_COUNTED = ("proved", "counterexample", "unknown")  # shown even when zero
EXTRA_WIDTH = 300  # characters of a prover's other details shown on the console
# Details a failure's explanation already shows (the state before and after,
# the environment and spec beside α(impl) come from the runner's own replay
# of the trace, whatever the prover says of them).
SHOWN_ABOVE = (
    *("conjunct", "error", "reason", "replay", "trace", "method"),
    *("chain_before", "chain_after", "env", "spec", "impl"),
)


@dataclass(frozen=True)
class Result:
    obligation: Obligation
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def explained(self) -> bool:
        """A counterexample (it replays) that a documented finding explains."""
        return self.outcome.status == "counterexample" and self.obligation.finding is not None

    @property
    def unexplained(self) -> bool:
        """A failure on seed that no documented finding explains (an unknown never is)."""
        return not self.passed and not self.explained and self.obligation.variant == "seed"

    @property
    def conjunct(self) -> str | None:
        """The smallest failing part of the property: the prover's word, else what the replay shows."""
        detail = self.outcome.detail
        if "conjunct" in detail:
            return str(detail["conjunct"])
        replay = detail.get("replay") or {}
        return ", ".join(replay["shows"]) if replay.get("shows") else None

    @property
    def message(self) -> str:
        """One line on why it failed."""
        detail = self.outcome.detail
        why = detail.get("error") or self.conjunct or detail.get("reason") or "no reason given"
        return f"{self.outcome.status}: {why}"


def is_bounded(method: str) -> bool:
    """Whatever does not claim to hold for every size (bounded unrolling, small worlds) is bounded."""
    return "unbounded" not in method.lower()


# ------------------------------------------------------------------ console


def result_line(result: Result) -> str:
    ob, outcome = result.obligation, result.outcome
    line = f"{outcome.status:<14} {outcome.seconds:7.2f} s  {ob.ident}"
    if result.passed and ob.finding:
        line += f"  (expected to fail: {ob.finding})"
    elif result.explained:
        line += f"  ({ob.finding})"
    elif ob.finding and not result.passed:
        line += f"  ({ob.finding} expects a counterexample)"
    elif result.unexplained:
        line += "  (no finding explains this)"
    return line


def _pages(state: dict[str, Any]) -> str:
    parts = []
    for page in state["pages"]:
        rmap = page["rmap"]
        if isinstance(rmap, str):
            held = rmap
        elif page["direct"]:
            held = f"direct {rmap[0]}"
        elif rmap:
            held = f"chain [{', '.join(rmap)}] ({page['chain_nodes']} nodes)"
        else:
            held = "no mappings"
        parts.append(f"page {page['pfn']}: {held}, count {page['count']}")
    rss = ", ".join(f"{mm} {n}" for mm, n in state["rss"].items())
    return (
        f"{'; '.join(parts)}; rss {rss}; nr_reverse_maps {state['nr_reverse_maps']}; "
        f"pte_chain objects {state['pte_chain_objects']}"
    )


def _op(op: dict[str, Any]) -> str:
    return op["op"] + "(" + ", ".join(f"{k}={v!r}" for k, v in op.items() if k != "op") + ")"


def failure_text(result: Result) -> list[str]:
    """The lines that explain one failed obligation."""
    ob, outcome = result.obligation, result.outcome
    detail = outcome.detail
    lines = [f"{ob.ident}: {outcome.status} after {outcome.seconds:.2f} s"]
    if ob.finding:
        expects = "" if result.explained else " (it expects a counterexample)"
        lines.append(f"  finding: {ob.finding} {finding(ob.finding).title}{expects}")
    elif result.unexplained:
        lines.append("  finding: NONE - no documented finding explains this failure on seed")
    lines.append(f"  statement: {ob.statement}")
    lines.append(f"  method: {ob.method}; invariants: {', '.join(ob.invariants) or '-'}")
    if result.conjunct:
        lines.append(f"  failing conjunct: {result.conjunct}")
    if "error" in detail:
        lines.append(f"  error: {detail['error']}")
    if "reason" in detail:
        lines.append(f"  reason: {detail['reason']}")
    replay = detail.get("replay")
    if replay and "last_op" in replay:
        lines.append(f"  last step: {_op(replay['last_op'])} -> {replay['result']!r}")
        env = replay["environment"]
        if env:
            unmap = ", ".join(f"{pte} {o}" for pte, o in env["unmap"].items())
            alloc = "fails" if env["alloc_fails"] else "succeeds"
            lines.append(f"  environment: unmap {unmap or '-'}; next pte_chain allocation {alloc}")
        if replay["before"]:
            lines.append(f"  before: {_pages(replay['before'])}")
        lines.append(f"  after:  {_pages(replay['after'])}")
        if replay["spec_mismatch"]:
            lines.append("  spec beside α(impl state) after the step:")
            lines.extend(f"    {m}" for m in replay["spec_mismatch"])
        for name, messages in replay["violations"].items():
            lines.extend(f"  violates {name}: {m}" for m in messages)
        if replay["fault"]:
            fault = replay["fault"]
            lines.append(f"  fault: {fault['kind']} in {fault['where']}: {fault['why']}")
    if replay:
        verdict = "shows " + ", ".join(replay["shows"]) if replay["replays"] else "shows nothing"
        lines.append(f"  replay: {replay['command']}  ({verdict})")
    for key, value in detail.items():
        if key not in SHOWN_ABOVE:
            text = str(value)
            if len(text) > EXTRA_WIDTH:
                text = text[:EXTRA_WIDTH] + " ... (in full in the --json report)"
            lines.append(f"  {key}: {text}")
    return lines


def summary_line(results: Sequence[Result], seconds: float) -> str:
    counts = Counter(r.outcome.status for r in results)
    parts = [f"{counts[s]} {s}" for s in STATUSES if s in ALWAYS_COUNTED or counts[s]]
    line = f"{', '.join(parts)} in {seconds:.1f} s"
    explained = Counter(r.obligation.finding for r in results if r.explained)
    if explained:
        line += "; explained by " + ", ".join(f"{f} ({n})" for f, n in sorted(explained.items()))
    unexplained = sum(r.unexplained for r in results)
    if unexplained:
        line += f"; {unexplained} failure(s) on seed no finding explains"
    return line


class Progress:
    """Result lines as obligations finish; on a terminal also a live status line."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out, self.total, self.done = out, total, 0
        self.live = out.isatty()
        self.start = time.perf_counter()

    def _clear(self) -> None:
        if self.live:
            self.out.write("\r\x1b[K")

    def tick(self, running: int) -> None:
        if self.live:
            elapsed = time.perf_counter() - self.start
            self._clear()
            self.out.write(f"[{self.done}/{self.total}] {running} running, {elapsed:.1f} s")
            self.out.flush()

    def finished(self, result: Result) -> None:
        self.done += 1
        self._clear()
        width = len(str(self.total))
        self.out.write(f"[{self.done:>{width}}/{self.total}] {result_line(result)}\n")
        self.out.flush()

    def close(self) -> None:
        self._clear()
        self.out.flush()


# ------------------------------------------------------------------ files


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so anything a prover put in a detail is plain data."""
    return json.loads(json.dumps(value, default=str))


def to_json(results: Sequence[Result], *, variant: str, seconds: float, settings: dict[str, Any]) -> str:
    counts = Counter(r.outcome.status for r in results)
    report = {
        "tool": "rmap-verify prove",
        "variant": variant,
        "settings": settings,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "z3_version": version("z3-solver"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "totals": {
            "obligations": len(results),
            **{s: counts[s] for s in STATUSES},
            "passed": all(r.passed for r in results),
            "unexplained": sum(r.unexplained for r in results),
            "seconds": round(seconds, 3),
        },
        "obligations": [
            {
                "ident": r.obligation.ident,
                "name": r.obligation.name,
                "function": r.obligation.function,
                "property": r.obligation.prop,
                "variant": r.obligation.variant,
                "statement": r.obligation.statement,
                "method": r.obligation.method,
                "bounded": is_bounded(r.obligation.method),
                "invariants": list(r.obligation.invariants),
                "status": r.outcome.status,
                "seconds": round(r.outcome.seconds, 3),
                "finding": r.obligation.finding,
                "unexplained": r.unexplained,
                "conjunct": r.conjunct,
                "detail": _jsonable(r.outcome.detail),
            }
            for r in results
        ],
    }
    return json.dumps(report, indent=1, sort_keys=True) + "\n"


def to_junit(results: Sequence[Result], *, seconds: float) -> str:
    failed = [r for r in results if not r.passed]
    suite = ET.Element(
        "testsuite",
        name="rmap-verify prove",
        tests=str(len(results)),
        failures=str(sum(r.outcome.status != "error" for r in failed)),
        errors=str(sum(r.outcome.status == "error" for r in failed)),
        time=f"{seconds:.3f}",
    )
    for r in results:
        ob = r.obligation
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{ob.variant}.{ob.function}",
            name=ob.ident,
            time=f"{r.outcome.seconds:.3f}",
        )
        if not r.passed:
            kind = "error" if r.outcome.status == "error" else "failure"
            element = ET.SubElement(case, kind, type=r.outcome.status, message=r.message)
            element.text = "\n".join(failure_text(r))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write(path: str, text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
