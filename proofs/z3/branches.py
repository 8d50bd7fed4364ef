"""Branch points of impl/'s code, where the generator takes them, and where a replay does.

Three views of the same branches, for the reachability and call-site
obligations (proofs.z3.reach):

- ``arms_of``: every arm of a function, read from its source: each ``if``'s
  then and else (an ``elif`` is the else's own ``if``), each loop's body and
  exit, each ``case`` and "no case matches", each early ``return``;
- ``Recorder``: the generator (proofs.z3.lift.Executor) with a record of
  every arm it takes and the path that takes it, of every call it inlines,
  and of every answer of a modelled kernel helper (proofs.z3.models);
- ``observe``: a trace replayed on impl/ under ``sys.settrace``: the lines
  each frame runs, and what the helpers answered, so that a witness is
  judged by the code that runs, not by the encoding.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType, FunctionType
from typing import Any

import z3

from impl import kernel
from impl.kernel import VMA, KmemCache
from impl.trace import Session, TraceError
from proofs.z3.lift import Executor, _short, source_of
from proofs.z3.paths import Path, Site
from proofs.z3.values import Bound, Ptr, Ref, term

KERNEL = "impl/kernel.py"


@dataclass(frozen=True)
class Arm:
    """One arm of a branch point: ``to`` is the line the arm goes to next
    (None: any line but ``not_to``, or none: the frame ends); a return is
    taken when its line runs."""

    file: str
    line: int
    label: str  # as the generator labels the fork: then, else, loop, exit, a case's value, return
    function: str
    test: tuple[int, int]  # the lines of the test, the pattern or the return statement
    to: int | None
    not_to: int | None = None
    shown: str = ""  # the label as a reader reads it, when it differs

    @property
    def key(self) -> tuple[str, str]:
        return f"{self.file}:{self.line}", self.label

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.shown or self.label} ({self.function})"

    def taken_in(self, lines: Sequence[int]) -> bool:
        """Whether one frame's line sequence takes this arm."""
        lo, hi = self.test
        for i, line in enumerate(lines):
            if not lo <= line <= hi:
                continue
            if self.label == "return":
                return True
            nxt = lines[i + 1] if i + 1 < len(lines) else None
            if nxt is not None and lo <= nxt <= hi:
                continue  # still in a test that spans lines
            if nxt == self.to if self.to is not None else nxt != self.not_to:
                return True
        return False


def arms_of(func: FunctionType) -> list[Arm]:
    """Every arm of ``func``'s own body, in source order."""
    source = source_of(func)
    file, off, name = _short(source.file), source.offset, func.__name__
    out: list[Arm] = []

    def span(node: ast.AST) -> tuple[int, int]:
        return off + node.lineno, off + (node.end_lineno or node.lineno)  # type: ignore[attr-defined]

    def first(body: Sequence[ast.stmt]) -> int | None:
        return off + body[0].lineno if body else None

    def walk(body: Sequence[ast.stmt], top: bool) -> None:
        for i, stmt in enumerate(body):
            match stmt:
                case ast.If(test=test, body=then, orelse=orelse):
                    line, test_span = off + stmt.lineno, (off + stmt.lineno, span(test)[1])
                    out.append(Arm(file, line, "then", name, test_span, first(then)))
                    out.append(Arm(file, line, "else", name, test_span, first(orelse), first(then)))
                    walk(then, False)
                    walk(orelse, False)
                case ast.While(test=test, body=loop):
                    line, test_span = off + stmt.lineno, (off + stmt.lineno, span(test)[1])
                    out.append(Arm(file, line, "loop", name, test_span, first(loop), shown="loop body"))
                    out.append(Arm(file, line, "exit", name, test_span, None, first(loop), "loop exit"))
                    walk(loop, False)
                case ast.Match(cases=cases):
                    for case in cases:
                        if not isinstance(case.pattern, ast.MatchValue):
                            continue  # the generator refuses other patterns, naming them
                        label = ast.unparse(case.pattern.value)
                        pattern = span(case.pattern)
                        out.append(
                            Arm(
                                file,
                                pattern[0],
                                label,
                                name,
                                pattern,
                                first(case.body),
                                shown=f"case {label}",
                            )
                        )
                        walk(case.body, False)
                    last = cases[-1].pattern
                    if isinstance(last, ast.MatchValue):
                        label, pattern = f"not {ast.unparse(last.value)}", span(last)
                        out.append(Arm(file, pattern[0], label, name, pattern, None, first(cases[-1].body),
                                       "no case matches"))  # fmt: skip
                case ast.Return() if not (top and i == len(body) - 1):
                    out.append(
                        Arm(file, off + stmt.lineno, "return", name, span(stmt), None, shown="early return")
                    )

    walk(source.node.body, True)
    return out


# ---------------------------------------------------------------- helper answers


@dataclass(frozen=True)
class Failure:
    """A failure answer of a modelled kernel helper (``target``): its
    condition on the symbolic answer, and the same test on the answer a
    replay sees (with the helper's locals)."""

    target: Any
    helper: str
    label: str
    symbolic: Callable[[Path, Any, tuple[Any, ...]], Any]
    concrete: Callable[[Any, Mapping[str, Any]], bool]


def _above(p: Path, v: Any, a: tuple[Any, ...]) -> Any:
    return p.heap.select("vma.start", *v.key) > term(a[1]) if isinstance(v, Ref) else z3.BoolVal(False)


FAILURES = (
    Failure(
        kernel.find_vma, "find_vma", "NULL", lambda p, v, a: z3.BoolVal(v is None), lambda v, loc: v is None
    ),
    Failure(
        kernel.find_vma,
        "find_vma",
        "a vma above the address",
        _above,
        lambda v, loc: isinstance(v, VMA) and v.vm_start > loc["addr"],
    ),
    Failure(
        KmemCache.alloc,
        "kmem_cache_alloc",
        "NULL (GFP_ATOMIC)",
        lambda p, v, a: term(v) == 0 if isinstance(v, Ptr) else z3.BoolVal(False),
        lambda v, loc: not v,
    ),
    Failure(
        kernel.Kernel.swap_duplicate,
        "swap_duplicate",
        "0 (an unused slot)",
        lambda p, v, a: term(v) == 0,
        lambda v, loc: v == 0,
    ),
)
# Where a replay sees each helper's answer: the function whose return is watched.
WATCHED = {
    kernel.find_vma.__code__: "find_vma",
    kernel.Kernel.kmem_cache_alloc.__code__: "kmem_cache_alloc",
    kernel.Kernel.swap_duplicate.__code__: "swap_duplicate",
}

Chain = tuple[
    tuple[str, int, int], ...
]  # innermost first: (function, first line, last line) of the statement running


@dataclass(frozen=True)
class Taken:
    key: tuple[str, str]
    path: Path
    owner: str  # the entry point whose own code it is (the innermost entry function on the stack)


@dataclass(frozen=True)
class CallAt:
    func: FunctionType
    arguments: Mapping[str, Any]
    path: Path
    caller: str
    site: Site | None


@dataclass(frozen=True)
class Answer:
    failure: Failure
    chain: Chain
    cond: Any  # the path's condition and the failure's

    @property
    def point(self) -> tuple[str, str, Chain]:
        return self.failure.helper, self.failure.label, self.chain


def chain_text(chain: Chain) -> str:
    return " ← ".join(f"{name}:{lo}" for name, lo, _ in chain)


class Recorder(Executor):
    """The generator, recording arms taken, calls inlined, helper answers."""

    def __init__(self, variant: type, config: Any, entries: frozenset[str]) -> None:
        super().__init__(variant, config)
        self.entries = entries
        self.taken: list[Taken] = []
        self.calls: list[CallAt] = []
        self.answers: list[Answer] = []
        self.own: dict[str, set[FunctionType]] = {}  # entry function -> the functions of its own code
        self._spans: dict[int, tuple[int, int]] = {}

    def owner(self) -> str:
        return next((f.func.__name__ for f in reversed(self.stack) if f.func.__name__ in self.entries), "?")

    def chain(self) -> Chain:
        return tuple(
            (f.func.__name__, *self._spans.get(f.serial, (0, 0)))
            for f in reversed(self.stack)
            if not f.source.file.endswith(KERNEL)
        )

    def fork(self, path: Path, t: Any, site: Site, labels: tuple[str, str]) -> list[tuple[bool, Path]]:
        out = super().fork(path, t, site, labels)
        for arm, taken in out:
            self.taken.append(Taken((str(site), labels[0] if arm else labels[1]), taken, self.owner()))
        return out

    def statement(self, stmt: ast.stmt, path: Path) -> Any:
        site = self.frame.site(stmt)
        self._spans[self.frame.serial] = (
            site.line,
            site.line + (stmt.end_lineno or stmt.lineno) - stmt.lineno,
        )
        if isinstance(stmt, ast.Return):
            self.taken.append(Taken((str(site), "return"), path, self.owner()))
        return super().statement(stmt, path)

    def call(
        self,
        func: FunctionType,
        owner: type | None,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        path: Path,
    ) -> list[tuple[Path, Any]]:
        if not source_of(func).file.endswith(KERNEL):
            mine = func.__name__ if func.__name__ in self.entries else self.owner()
            self.own.setdefault(mine, set()).add(func)
        caller = self.stack[-1].func.__name__ if self.stack else ""
        names = list(func.__code__.co_varnames[: func.__code__.co_argcount])
        arguments = {**dict(zip(names, args, strict=False)), **kwargs}
        site = self.stack[-1].at if self.stack else None
        self.calls.append(CallAt(func, arguments, path, caller, site))
        return super().call(func, owner, args, kwargs, path)

    def apply(
        self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], path: Path, site: Site
    ) -> list[tuple[Path, Any]]:
        results = super().apply(func, args, kwargs, path, site)
        target = func.func if isinstance(func, Bound) else func
        failures = [f for f in FAILURES if f.target is target]
        full = (func.self_value, *args) if isinstance(func, Bound) else args
        for failure in failures:
            for p, value in results:
                self.answers.append(
                    Answer(failure, self.chain(), z3.And(p.condition, failure.symbolic(p, value, full)))
                )
        return results

    def _scout(self, stmt: ast.While, head: Path) -> list[Path]:
        saved = self.taken, self.calls, self.answers
        self.taken, self.calls, self.answers = [], [], []
        try:
            return super()._scout(stmt, head)
        finally:
            self.taken, self.calls, self.answers = saved


# ---------------------------------------------------------------- replay


@dataclass
class Observed:
    """What the last operation of a replayed trace ran."""

    lines: dict[tuple[str, str], list[list[int]]] = field(default_factory=dict)  # (file, function) -> frames
    answers: list[tuple[str, str, tuple[tuple[str, int], ...]]] = field(default_factory=list)

    def takes(self, arm: Arm) -> bool:
        return any(arm.taken_in(seq) for seq in self.lines.get((arm.file, arm.function), ()))

    def answered(self, helper: str, label: str, chain: Chain) -> bool:
        for h, lab, seen in self.answers:
            if (h, lab) == (helper, label) and len(seen) >= len(chain):
                if all(
                    n == m and lo <= line <= hi for (n, lo, hi), (m, line) in zip(chain, seen, strict=False)
                ):
                    return True
        return False


def observe(trace: list[dict[str, Any]], variant: str, files: frozenset[str]) -> Observed | None:
    """Replay ``trace``; trace its last operation.  None when the trace is
    malformed or the state before the last operation breaks an invariant
    (then it is no witness of a state the precondition admits)."""
    session = Session(variant)
    try:
        records = [session.apply(op) for op in trace[:-1]]
    except TraceError:
        return None
    if not records or records[-1]["violations"]:
        return None
    seen = Observed()

    def code_file(frame: FrameType) -> str | None:
        short = _short(frame.f_code.co_filename)
        return short if short in files else None

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            seq[id(frame)].append(frame.f_lineno)
        return local

    def watch(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return":
            chain, f = [], frame.f_back
            while f is not None and code_file(f) is not None:
                chain.append((f.f_code.co_name, f.f_lineno))
                f = f.f_back
            helper = WATCHED[frame.f_code]
            for failure in (f for f in FAILURES if f.helper == helper):
                if failure.concrete(arg, frame.f_locals):
                    seen.answers.append((helper, failure.label, tuple(chain)))
        return watch

    seq: dict[int, list[int]] = {}

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code in WATCHED:
            return watch
        short = code_file(frame)
        if short is None:
            return None
        lines: list[int] = []
        seq[id(frame)] = lines
        seen.lines.setdefault((short, frame.f_code.co_name), []).append(lines)
        return local

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        session.apply(trace[-1])
    except TraceError:
        return None
    finally:
        sys.settrace(previous)
    return seen
