"""The C oracle for the rest of the tool: the oracles, traces side by side, a counterexample on the C.

``in_process`` is the seed's library loaded once per process (cheap: the
runner's workers and the tests share it), ``sanitized`` a fresh process of
the sanitizer build for one replay.  ``side_by_side`` runs a trace on the
port and on the C, op for op; ``on_c`` is what the runner adds to a
counterexample's replay (proofs/tool/cexreplay.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from impl.c.build import BuildError, build, find_seed
from impl.c.compare import differences
from impl.c.native import InProcess, Oracle, OracleDied, OracleError, SanitizerReport, Subprocess
from impl.c.session import CSession
from impl.trace import Session, TraceError, apply_line, parse_trace, replay_on
from proofs.tool.cexreplay import shown


@functools.cache
def in_process(seed: str | None = None, *, debug_rmap: bool = False) -> InProcess:
    """The oracle library for ``seed`` (built once, loaded once per process)."""
    return InProcess(build(find_seed(seed), debug_rmap=debug_rmap))


def sanitized(seed: str | None = None, *, debug_rmap: bool = False) -> Subprocess:
    """A fresh sanitizer-build driver process: one per replay, so that its
    LeakSanitizer report at exit is that replay's."""
    return Subprocess(build(find_seed(seed), sanitize=True, debug_rmap=debug_rmap))


@dataclass
class Pair:
    """One operation's record on the port and on the C, and what differs."""

    line: int
    port: dict[str, Any]
    c: dict[str, Any]
    differences: list[str]


def side_by_side(
    lines: Iterable[str | bytes],
    source: str,
    oracle: Oracle,
    variant: str = "seed",
    *,
    debug_rmap: bool = False,
) -> Iterator[Pair]:
    """Replay a trace on the port and on the C at once, op for op; the
    trace is checked whole (``impl.trace.parse_trace``) before either runs."""
    ops = parse_trace(lines, source)
    port, c = Session(variant, debug_rmap), CSession(oracle)
    for number, op in ops:
        a = apply_line(port, source, number, op)
        b = apply_line(c, source, number, op)
        yield Pair(number, a, b, differences(a, b))


def lines_of(trace: Iterable[Mapping[str, Any]]) -> list[str]:
    """A trace given as operations, as the JSON lines of its file."""
    return [json.dumps(op) for op in trace]


def on_c(trace: list[Any], variant: str = "seed", seed: str | None = None) -> dict[str, Any]:
    """A proof's counterexample (a list of trace operations) on the C,
    beside the port's ``variant``: what the C's last record shows, whether
    every record is the port's, and the first that is not.  The C is the
    seed as shipped whatever the variant.  Never raises: when the oracle
    cannot be built (no seed file, no compiler) the one field
    ``unavailable`` says why; when the replay cannot run, ``error``."""
    try:
        oracle = in_process(seed)
    except BuildError as why:
        return {"unavailable": str(why)}
    try:
        pairs = list(side_by_side(lines_of(trace), "<counterexample>", oracle, variant))
    except (TraceError, OracleError) as why:
        return {"error": str(why)}
    first = next((p for p in pairs if p.differences), None)
    return {
        "shows": shown(pairs[-1].c),
        "same_as_port": first is None,
        "first_difference": None if first is None else {"line": first.line, "fields": first.differences},
    }


def sanitized_replay(
    lines: Iterable[str | bytes], source: str, seed: str | None = None
) -> tuple[list[dict[str, Any]], SanitizerReport]:
    """A replay on the sanitizer build: the records it got to, and what the
    sanitizers said when the driver ended."""
    oracle = sanitized(seed)
    records: list[dict[str, Any]] = []
    try:
        for record in replay_on(CSession(oracle), lines, source):
            records.append(record)
    except OracleDied:
        pass  # a sanitizer stopped the driver: its report says why
    finally:
        report = oracle.close()
    return records, report
