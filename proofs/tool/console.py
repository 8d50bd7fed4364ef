"""How ``rmap-verify prove`` reads on a console: result lines, a summary, then each failure as tables.

A failure shows the facts a reader needs, from documented keys of
``Outcome.detail``: the failing conjunct, the error or reason, and the
runner's own replay of the counterexample (``proofs.tool.cexreplay``): the
last step and its result, the environment, the state before and after as
one table, the spec beside α(impl) as another, the violated invariants
and the replay command.  An interleaving (``interleaving``, ``waits``) is
listed step by step.  Every other key a prover adds is shown with ``-v``
only, rendered as plain tables, never as a Python repr; a key nobody
documented is thus never lost and never in the way.  Text is laid out by
rich at a fixed width (``WIDTH``), so no line is wider.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from proofs.findings import finding
from proofs.tool.result import Result
from proofs.tool.workers import InOrder

WIDTH = 160  # the widest line the console report prints
# Detail keys rendered in their own way; what the runner's replay shows
# instead of the prover's own picture (chain_*, env, spec, impl).
DOCUMENTED = frozenset(
    {"conjunct", "error", "reason", "why", "replay", "trace", "method", "interleaving", "waits", "world"}
    | {"interleaved", "without_interleaving", "cpus"}
    | {"chain_before", "chain_after", "env", "spec", "impl"}
)
_SPEC_BESIDE_IMPL = re.compile(r"^(?P<field>[^:]+): spec (?P<spec>.*), impl (?P<impl>.*)$")
# impl.refinement words a differing record field as its dataclass repr: PteAbs(kind='page', target=1)
_RECORD_REPR = re.compile(r"^\w+\((?P<fields>\w+=.*)\)$")
_REPR_WORDS = {"True": "yes", "False": "no", "None": "-"}


class _TrimmedLines(io.TextIOBase):
    """A file that drops the spaces rich pads lines with, so plain text has no trailing blanks."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, s: str) -> int:
        self.out.write(re.sub(r" +\n", "\n", s))
        return len(s)

    def flush(self) -> None:
        self.out.flush()


def console(out: TextIO) -> Console:
    """A rich console on ``out``: colour and its width on a terminal, plain text at WIDTH elsewhere."""
    terminal = out.isatty()
    width = min(shutil.get_terminal_size().columns, WIDTH) if terminal else WIDTH
    return Console(
        file=out if terminal else _TrimmedLines(out),  # type: ignore[arg-type]
        width=width,
        force_terminal=terminal,
        no_color=not terminal,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=False,
    )


def plain_lines(renderables: Iterable[RenderableType]) -> list[str]:
    """What the console would print, as plain lines (for JUnit and tests)."""
    buffer = io.StringIO()
    target = console(buffer)
    for r in renderables:
        target.print(r)
    return [line.rstrip() for line in buffer.getvalue().splitlines()]


# ------------------------------------------------------------ values as text


def text(value: Any) -> str:
    """A value as a reader wants it: strings bare, JSON for the rest, '-' for nothing."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return _unrepr(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(text(v) for v in value) or "-"
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return ", ".join(f"{k} {text(v)}" for k, v in value.items()) or "-"
    size = len(value) if isinstance(value, list | dict) else 0
    return f"({size} entries; see --json)"


def _unrepr(value: str) -> str:
    """A Python repr that reached a message, in words: quotes dropped, records as their fields."""
    record = _RECORD_REPR.match(value)
    if record:
        fields = re.split(r", (?=\w+=)", record["fields"])
        return ", ".join(f"{k} {_unrepr(v)}" for k, _, v in (f.partition("=") for f in fields))
    quoted = re.fullmatch(r"'([^']*)'", value)
    return quoted.group(1) if quoted else _REPR_WORDS.get(value, value)


def operation(op: Mapping[str, Any]) -> str:
    return " ".join([str(op.get("op")), *(f"{k}={json.dumps(v)}" for k, v in op.items() if k != "op")])


def _table(*columns: str, title: str | None = None) -> Table:
    return Table(
        *columns, box=box.SIMPLE_HEAD, show_edge=False, title=title, title_justify="left", pad_edge=False
    )


def facts(rows: Iterable[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(Text(key), Text(value))
    return grid


def generic(name: str, value: Any) -> list[RenderableType]:
    """Any detail a prover reports, as a table when it is a list of records, else as facts."""
    if isinstance(value, dict) and any(isinstance(v, dict | list) for v in value.values()):
        return [facts((f"{name}.{k}", text(v)) for k, v in value.items())]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        table = _table(*columns)
        for row in value:
            table.add_row(*(Text(text(row.get(c))) for c in columns))
        return [Text(f"{name}:"), table]
    return [facts([(name, text(value))])]


# ------------------------------------------------------------ a counterexample


def _page_rows(state: Mapping[str, Any]) -> dict[str, str]:
    rows: dict[str, str] = {}
    for page in state["pages"]:
        rmap = page["rmap"]
        if isinstance(rmap, str):
            held = rmap
        elif not rmap:
            held = "none"
        elif page["direct"]:
            held = f"direct {rmap[0]}"
        else:
            held = f"chain {' -> '.join(rmap)} ({page['chain_nodes']} nodes)"
        rows[f"page {page['pfn']} reverse map"] = held
        rows[f"page {page['pfn']} count"] = str(page["count"])
        rows[f"page {page['pfn']} flags"] = " ".join(page["flags"]) or "none"
    for mm, rss in state["rss"].items():
        rows[f"mm {mm} rss"] = str(rss)
    for entry, count in state.get("swap", {}).items():
        rows[f"swap entry {entry} count"] = str(count)
    rows["nr_reverse_maps"] = str(state["nr_reverse_maps"])
    rows["live pte_chain objects"] = str(state["pte_chain_objects"])
    return rows


def state_table(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> Table:
    then, now = (_page_rows(before) if before else {}), _page_rows(after)
    table = _table("state", "before", "after", "")
    for key in dict.fromkeys([*then, *now]):
        changed = "changed" if then.get(key) != now.get(key) else ""
        table.add_row(Text(key), Text(then.get(key, "-")), Text(now.get(key, "-")), Text(changed))
    return table


def spec_part(mismatches: Sequence[str]) -> list[RenderableType]:
    """Fields where the spec and α(impl) differ, as a table; any other difference as a line."""
    table = _table("field", "spec", "α(impl)")
    others = []
    for m in mismatches:
        parts = _SPEC_BESIDE_IMPL.match(m)
        if parts:
            table.add_row(Text(parts["field"]), Text(text(parts["spec"])), Text(text(parts["impl"])))
        else:
            others.append(("spec mismatch", m))
    shown: list[RenderableType] = (
        [Text("spec beside α(impl) after the step:"), table] if table.row_count else []
    )
    return shown + ([facts(others)] if others else [])


def _last_step(op: Mapping[str, Any], result: Any) -> str:
    """The last operation and what it answered; a schedule's step as the interleaving lists it."""
    if op.get("op") != "step":
        return f"{operation(op)} -> {text(result)}"
    released = f"; releases {', '.join(result['releases'])}" if result["releases"] else ""
    ends = "; path ends" if result["finished"] else ""
    return f"step {result['cpu']}: {result['did']} -> {result['answer']}{released}{ends}"


def _replay_part(replay: Mapping[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    if "last_op" in replay:
        rows = [("last step", _last_step(replay["last_op"], replay["result"]))]
        env = replay.get("environment")
        if env:
            unmap = ", ".join(f"{pte} {o}" for pte, o in env["unmap"].items()) or "-"
            alloc = "fails" if env["alloc_fails"] else "succeeds"
            rows.append(("environment", f"unmap {unmap}; next pte_chain allocation {alloc}"))
        if replay.get("fault"):
            fault = replay["fault"]
            rows.append(("fault", f"{fault['kind']} in {fault['where']}: {fault['why']}"))
        if replay.get("precondition"):
            rows.append(("precondition", str(replay["precondition"])))
        out.append(facts(rows))
        out.append(state_table(replay.get("before"), replay["after"]))
        out += spec_part(replay.get("spec_mismatch", []))
        violated = [(name, m) for name, ms in replay.get("violations", {}).items() for m in ms]
        if violated:
            table = _table("violated invariant", "how")
            for name, m in violated:
                table.add_row(Text(name), Text(m))
            out.append(table)
    verdict = "shows " + ", ".join(replay["shows"]) if replay.get("replays") else "shows nothing"
    rows = [("replay", f"{replay['command']}  ({verdict})")]
    on_c = replay.get("c") or {}
    if "shows" in on_c:  # the C oracle ran it (proofs.tool.oracle); where it cannot, the JSON says why
        first, diff = on_c["first_difference"], replay["command"].replace(" replay ", " diff ", 1)
        same = "every record the port's" if first is None else f"line {first['line']} differs: {diff}"
        rows.append(("on the C", f"shows {', '.join(on_c['shows']) or 'nothing'}; {same}"))
    elif "error" in on_c:
        rows.append(("on the C", f"error: {on_c['error']}"))
    elif "unsupported" in on_c:
        rows.append(("on the C", f"not replayed: {on_c['unsupported']}"))
    out.append(facts(rows))
    return out


def failure(result: Result, *, verbose: bool = False) -> list[RenderableType]:
    """Everything that explains one failed obligation."""
    ob, outcome, detail = result.obligation, result.outcome, result.outcome.detail
    head = Text(f"{outcome.status.upper()}  {ob.ident}  ({outcome.seconds:.2f} s)", style="bold")
    rows = []
    for row in detail.get("findings") or ():
        rows.append(("found on", f"{row['variant']}: shows {', '.join(row['shows']) or 'nothing'}"))
        for f in row["findings"]:
            removes = [name for name, fixes in row["removed_by"].items() if f in fixes]
            rows.append(("finding", f"{f} {finding(f).title} (its fix removes {', '.join(removes)})"))
        if row["unexplained"]:
            rows.append(("finding", f"NONE removes {', '.join(row['unexplained'])}"))
    if "last" in detail:
        rows.append(("then", f"{detail['last']['variant']}: {detail['last']['status']}"))
    if result.unexplained:
        rows.append(("finding", "NONE - no finding explains this failure"))
    rows.append(("statement", ob.statement))
    rows.append(("method", f"{ob.method}; invariants: {', '.join(ob.invariants) or '-'}"))
    if result.conjunct:
        rows.append(("failing conjunct", result.conjunct))
    for key in ("error", "reason", "why", "world"):
        if key in detail:
            rows.append((key, text(detail[key])))
    if "interleaved" in detail:
        shape = (
            "interleaves the paths"
            if detail["interleaved"]
            else "runs whole paths: no interleaving shows one"
        )
        rows.append(("schedule", shape))
    for name, how in (detail.get("without_interleaving") or {}).items():
        rows.append(("no interleaving needed", f"{name}: {how}"))
    out: list[RenderableType] = [head, facts(rows)]
    if detail.get("replay"):
        out += _replay_part(detail["replay"])
    if detail.get("interleaving"):  # one line a step, the whole width: the paths are named once, by CPU
        cpus = ", ".join(f"{cpu} {path}" for cpu, path in (detail.get("cpus") or {}).items())
        out.append(Text(f"interleaving ({cpus}):" if cpus else "interleaving:"))
        out += [Text(f"  {step}") for step in detail["interleaving"]]
    if detail.get("waits"):
        out.append(facts(("" if n else "waits", text(wait)) for n, wait in enumerate(detail["waits"])))
    if verbose:
        out += [
            part for key, value in detail.items() if key not in DOCUMENTED for part in generic(key, value)
        ]
    return out


def failure_text(result: Result, *, verbose: bool = True) -> list[str]:
    """One failure as plain lines (the JUnit report carries every detail)."""
    return plain_lines(failure(result, verbose=verbose))


# ------------------------------------------------------------ while it runs


def result_line(result: Result) -> str:
    ob, outcome = result.obligation, result.outcome
    line = f"{outcome.status:<14} {outcome.seconds:7.2f} s  {ob.ident}"
    if result.explained:
        last = result.outcome.detail.get("last") or {}
        then = (
            "" if last.get("status") in (None, "proved") else f"; then {last['status']} on {last['variant']}"
        )
        line += f"  ({', '.join(result.findings)}{then})"
    elif result.unexplained:
        line += "  (no finding explains this)"
    return line


class Progress:
    """One line per obligation, in registry order as soon as every earlier one is in, so that two
    runs print the same lines in the same order; on a terminal also a live status line."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out, self.total, self.done = out, total, 0
        self.live = out.isatty()
        self.start = time.perf_counter()
        self.order: InOrder[Result] = InOrder()

    def _clear(self) -> None:
        if self.live:
            self.out.write("\r\x1b[K")

    def tick(self, running: int) -> None:
        if self.live:
            elapsed = time.perf_counter() - self.start
            self._clear()
            self.out.write(f"[{self.done}/{self.total}] {running} running, {elapsed:.1f} s")
            self.out.flush()

    def finished(self, index: int, result: Result) -> None:
        self.done += 1
        width = len(str(self.total))
        for i, ready in self.order.add(index, result):
            self._clear()
            self.out.write(f"[{i + 1:>{width}}/{self.total}] {result_line(ready)}\n")
        self.out.flush()

    def close(self) -> None:
        self._clear()
        self.out.flush()
