"""The files ``rmap-verify prove`` writes: the JSON report docs/ reads, and JUnit XML for CI front ends."""

from __future__ import annotations

import json
import os
import platform
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from proofs.tool.console import failure_text
from proofs.tool.result import STATUSES, Result, is_bounded


def _jsonable(value: Any) -> Any:
    """Round-trip through JSON so anything a prover put in a detail is plain data."""
    return json.loads(json.dumps(value, default=str))


def to_json(
    results: Sequence[Result],
    *,
    variant: str,
    seconds: float,
    settings: dict[str, Any],
    not_run: Sequence[str] = (),
) -> str:
    """The JSON report; a run stopped early says complete: false and lists what did not run."""
    counts = Counter(r.outcome.status for r in results)
    report: dict[str, Any] = {
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
            "complete": not not_run,
            "not_run": len(not_run),
        },
        "not_run": list(not_run),
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
                "findings": list(r.findings),
                "explained": r.explained,
                "unexplained": r.unexplained,
                "conjunct": r.conjunct,
                "detail": _jsonable(r.outcome.detail),
            }
            for r in results
        ],
    }
    return json.dumps(report, indent=1, sort_keys=True) + "\n"


def to_junit(
    results: Sequence[Result], *, seconds: float, not_run: Sequence[str] = (), why: str = "interrupted"
) -> str:
    """One testcase per obligation; one skipped testcase per obligation a stopped run did not reach."""
    failed = [r for r in results if not r.passed]
    suite = ET.Element(
        "testsuite",
        name="rmap-verify prove",
        tests=str(len(results) + len(not_run)),
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
    for ident in not_run:
        case = ET.SubElement(suite, "testcase", classname="not_run", name=ident, time="0")
        ET.SubElement(case, "skipped", message=f"the run stopped ({why}) before this obligation finished")
    suite.set("skipped", str(len(not_run)))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
