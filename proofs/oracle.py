"""The C oracle for the rest of the tool: traces side by side, the findings
on the C, counterexamples on the C.

``python -m proofs.oracle`` replays every finding's trace on the port
(variant seed) and on the C, once more on the sanitizer build, and writes
``proofs/results/c-oracle.json`` and the findings table of
docs_src/c-oracle.md from it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.c.build import BuildError, build, find_seed
from impl.c.compare import differences
from impl.c.native import InProcess, Oracle, OracleDied, SanitizerReport, Subprocess
from impl.c.session import CSession
from impl.trace import Session, TraceError, read_trace
from proofs.cexreplay import shown
from proofs.findings import FINDINGS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "proofs" / "results" / "c-oracle.json"
PROVE_SEED = ROOT / "proofs" / "results" / "prove-seed.json"
PAGE = ROOT / "docs_src" / "c-oracle.md"
BEGIN, END = "<!-- BEGIN c-oracle findings -->", "<!-- END c-oracle findings -->"
BENCH_BEGIN, BENCH_END = "<!-- BEGIN bench_c_oracle.py -->", "<!-- END bench_c_oracle.py -->"


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
    lines: Iterable[str], source: str, oracle: Oracle, variant: str = "seed", *, debug_rmap: bool = False
) -> Iterator[Pair]:
    """Replay a trace on the port and on the C at once, op for op."""
    port, c = Session(variant, debug_rmap), CSession(oracle)
    for number, op in read_trace(lines, source):
        try:
            a = {"line": number, **port.apply(op)}
            b = {"line": number, **c.apply(op)}
        except TraceError as why:
            raise TraceError(f"{source}:{number}: {why}") from None
        yield Pair(number, a, b, differences(a, b))


def _lines_of(trace: Iterable[Mapping[str, Any]]) -> list[str]:
    return [json.dumps(op) for op in trace]


def counterexample_on_c(trace: list[Any], variant: str = "seed", seed: str | None = None) -> dict[str, Any]:
    """A proof's counterexample (a list of trace operations) on the C,
    beside the port's ``variant``: whether the C's last record shows a
    failure too, what it shows, and the first record where the two differ.
    ``available`` is false (with ``why``) when the oracle cannot be built."""
    try:
        oracle = in_process(seed)
    except BuildError as why:
        return {"available": False, "why": str(why)}
    try:
        pairs = list(side_by_side(_lines_of(trace), "<counterexample>", oracle, variant))
    except TraceError as why:
        return {"available": True, "replays": False, "error": str(why)}
    if not pairs:
        return {"available": True, "replays": False, "error": "empty trace"}
    first = next((p for p in pairs if p.differences), None)
    return {
        "available": True,
        "replays": bool(shown(pairs[-1].c)),
        "shows": shown(pairs[-1].c),
        "port_shows": shown(pairs[-1].port),
        "c_last": pairs[-1].c,
        "first_difference": None if first is None else {"line": first.line, "fields": first.differences},
    }


def sanitized_replay(
    lines: Iterable[str], source: str, seed: str | None = None
) -> tuple[list[dict[str, Any]], SanitizerReport]:
    """A replay on the sanitizer build: the records it got to, and what the
    sanitizers said when the driver ended."""
    oracle = sanitized(seed)
    session = CSession(oracle)
    records = []
    try:
        for number, op in read_trace(lines, source):
            records.append({"line": number, **session.apply(op)})
    except OracleDied:
        pass  # a sanitizer stopped the driver: its report says why
    finally:
        report = oracle.close()
    return records, report


# ---------------------------------------------------------------- findings


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
        pairs = list(side_by_side(lines, str(f.trace), oracle))
        _, report = sanitized_replay(lines, str(f.trace), seed)
        last = pairs[-1]
        out["findings"][f.id] = {
            "trace": str(f.trace.relative_to(ROOT)),
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
                "leak_stacks": [_to_the_caller(leak.stack) for leak in report.leaks],
                "undefined": report.undefined,
                "errors": report.errors,
            },
        }
    out["counterexamples"] = counterexample_results()
    return out


def counterexample_results(report: Path = PROVE_SEED) -> dict[str, Any]:
    """Every counterexample of a prove report (``--json``) on the C: how
    many replay (show a failure) and how many match the port record for
    record; the obligations of those that do not."""
    data = json.loads(report.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"report": str(report.relative_to(ROOT)), "counterexamples": 0, "replay": 0}
    out |= {"identical": 0, "not_identical": []}
    for ob in data["obligations"]:
        trace = (ob.get("detail") or {}).get("trace")
        if ob.get("status") != "counterexample" or not trace:
            continue
        verdict = counterexample_on_c(trace, data.get("variant", "seed"))
        out["counterexamples"] += 1
        out["replay"] += bool(verdict.get("replays"))
        if verdict.get("first_difference") is None and "error" not in verdict:
            out["identical"] += 1
        else:
            out["not_identical"].append(ob["name"])
    return out


def _to_the_caller(stack: list[str]) -> list[str]:
    """A leak's allocation stack up to the caller (callers.c) that ran the seed."""
    end = next(
        (i for i, frame in enumerate(stack) if frame.startswith(("map_pte ", "zap_pte ", "reclaim "))), None
    )
    return stack if end is None else stack[: end + 1]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def findings_table(results: Mapping[str, Any]) -> str:
    """The findings section of docs_src/c-oracle.md, from the results file."""
    rows = [
        "| finding | the finding shows | port (seed) shows | C shows | same | C's fault "
        "| sanitizers on the C |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ident, r in sorted(results["findings"].items()):
        fault = r["c_last"]["fault"]
        where = "" if fault is None else f"{fault['kind']} in `{fault['where']}`"
        rows.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f"[{ident}](findings/{ident}.md)",
                    ", ".join(r["shows"]),
                    ", ".join(r["port_shows"]),
                    ", ".join(r["c_shows"]),
                    "yes" if r["same_violation"] else "**no**",
                    where,
                    r["sanitizers"]["verdict"],
                )
            )
            + " |"
        )
    cex = results["counterexamples"]
    rows += [
        "",
        f"The {cex['counterexamples']} counterexamples of `{cex['report']}` on the C: {cex['replay']} "
        f"show a failure there too, and {cex['identical']} give the port's records, op for op.",
    ]
    return "\n".join(rows) + "\n"


def record_rows(record: Mapping[str, Any]) -> dict[str, str]:
    """A record's state in a few readable cells (for a port-beside-C table)."""
    fault = record["fault"]
    rows = {
        "result": json.dumps(record["result"]),
        "fault": "none" if fault is None else f"{fault['kind']} in `{fault['where']}`",
    }
    for page in record["pages"]:
        flags = ",".join(page["flags"]) or "-"
        rows[f"page {page['pfn']}"] = f"rmap {page['rmap']}, count {page['count']}, flags {flags}"
    for mm in record["mms"]:
        rows[f"mm {mm['name']}"] = f"rss {mm['rss']}, page_table_lock {mm['page_table_lock']}"
    rows["nr_reverse_maps"] = str(record["nr_reverse_maps"])
    rows["pte_chain_objects"] = str(record["pte_chain_objects"])
    rows["violations"] = ", ".join(sorted(record["violations"])) or "none"
    rows["spec_mismatch"] = f"{len(record['spec_mismatch'])} line(s)"
    return rows


def finding_c_section(ident: str, results: Mapping[str, Any] | None = None) -> str:
    """A finding page's section on the C (for proofs/docgen.py to call):
    the C's last record beside the port's, and the sanitizers' verdict."""
    data = results if results is not None else json.loads(RESULTS.read_text(encoding="utf-8"))
    r = data["findings"][ident]
    same = "the same violation as" if r["same_violation"] else "**not** the violation of"
    port, c = record_rows(r["port_last"]), record_rows(r["c_last"])
    lines = [
        "## On the C",
        "",
        f"`rmap-verify replay {r['trace']} --c` runs the trace on the seed compiled as C; its last "
        f"record shows {same} the port: {', '.join(r['c_shows'])}.",
        "",
        "| | port (variant seed) | C |",
        "| --- | --- | --- |",
        *(f"| {key} | {_cell(port.get(key, ''))} | {_cell(c.get(key, ''))} |" for key in port | c),
        "",
        f"Sanitizers on the C (ASan, UBSan, LeakSanitizer): {r['sanitizers']['verdict']}.",
    ]
    for stack in r["sanitizers"]["leak_stacks"]:
        lines += [
            "",
            "The leaked object was allocated at " + " ← ".join(f"`{frame}`" for frame in stack) + ".",
        ]
    return "\n".join(lines) + "\n"


def render_bench(r: Mapping[str, Any]) -> str:
    """The benchmark section of docs_src/c-oracle.md, from its results file."""
    port, c, san, cost = r["port"], r["c"], r["sanitizer"], r["fault_cost"]
    outcomes = ", ".join(f"{name} {n}" for name, n in r["outcomes"].items())
    rows = [
        ("records where the C and the port differ", f"**{r['divergences']}** of {r['ops']}"),
        ("port (variant seed), operations a second", f"{port['ops_per_second']:,} ({port['seconds']} s)"),
        (
            "C oracle, operations a second (C run, state read back, record built)",
            f"{c['ops_per_second']:,} ({c['seconds']} s)",
        ),
        (
            "of which in the C library itself",
            f"{c['native_ops_per_second']:,} a second ({c['native_seconds']} s)",
        ),
        ("what the operations did (on the C)", outcomes),
        (
            "a world of two maps in the library, without and with F3's oops caught by sigsetjmp",
            f"{cost['no_fault_us']} µs, {cost['oops_us']} µs",
        ),
        (
            f"sanitizer build: {san['traces']} traces ({san['ops']} operations), one process each",
            f"{san['seconds_per_process']} s a process",
        ),
        (
            "LeakSanitizer's leaked objects equal the port's leaked pte_chains",
            f"in {san['leaks_agree_with_port']} of {san['traces']} traces ({san['port_leaking']} leak on "
            f"the port, {san['traces_leaking']} under LeakSanitizer)",
        ),
        ("UBSan reports, ASan errors", f"{san['ubsan_reports']}, {san['asan_errors']}"),
    ]
    head = (
        f"Measured at commit `{r['commit']}` with Python {r['python']} and {r['compiler']}: "
        f"`{r['command'].strip()}`, {r['traces']} traces of {r['ops_per_trace']} caller-level "
        f"operations (random seed {r['seed']}).\n\n| | |\n| --- | --- |\n"
    )
    return head + "\n".join(f"| {_cell(a)} | {_cell(b)} |" for a, b in rows) + "\n"


def write_section(page: Path, begin: str, end: str, body: str) -> None:
    """Replace what stands between ``begin`` and ``end`` in ``page``."""
    text = page.read_text(encoding="utf-8")
    head, found, rest = text.partition(begin)
    if not found or end not in rest:
        raise ValueError(f"{page} has no {begin} ... {end} section")
    page.write_text(f"{head}{begin}\n\n{body}\n{end}{rest.partition(end)[2]}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c", default=None, metavar="PATH", help="the seed to compile")
    args = parser.parse_args(argv)
    try:
        results = finding_results(args.c)
    except BuildError as why:
        print(f"proofs.oracle: error: {why}", file=sys.stderr)
        return 2
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    write_section(PAGE, BEGIN, END, findings_table(results))
    for ident, r in sorted(results["findings"].items()):
        print(f"{ident}: C shows {', '.join(r['c_shows'])}; {r['sanitizers']['verdict']}")
    return 0 if all(r["same_violation"] for r in results["findings"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
