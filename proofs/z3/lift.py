"""The verification-condition generator: impl/'s Python, statement by statement, into z3.

``Executor`` reads the source of a variant's methods (and of the callers
and kernel helpers they call) with ``inspect`` and executes it
symbolically over ``proofs.z3.heap``: every path through the code is a
``Path`` (its condition, the state, the locals); a branch on a symbolic
condition forks, and where its arms meet again (after an ``if`` or a
``match``, at a call's return) the paths that can be one are joined
(``Executor.join_key``); a call of the variant's own method, of a caller or of a
helper of impl/kernel.py is inlined (so a subclass's override is what runs),
except the few helpers with a model in ``proofs.z3.models``.  Python that
the generator does not support is refused with its file:line and the
construct (``Unsupported``), never skipped.

A BUG, an oops, a deadlock ends its path as a fault (``Terminal``); a
caller-side precondition that fails (``CallerPrecondition``) ends its path
as *dropped*: the obligation is stated for the inputs where it holds.

Loops, in ``proof`` mode, are cut by their invariant (``proofs.z3.loops``,
keyed by function and loop): the paths that reach the loop are merged; the
invariant must hold there (initiation); the state the loop changes is
replaced by fresh constants constrained by the invariant; every path once
round the body must restore it (consecution); the loop's exits go on with
that state.  A loop without an invariant is refused.  In ``bounded`` mode
(counterexample search on a concrete chain) loops are unrolled instead.
The loop VCs go to ``checks``; what the function ends in (its returns,
faults and drops) is the caller's to judge with a property.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import FunctionType
from typing import Any, Literal

import z3

from proofs.z3.paths import (
    Path,
    Site,
    Unsupported,
    event_kind,
    join,
    join_returns,
    merge,
    merge_alike,
    shape_changes,
    value_key,
)
from proofs.z3.spec import SumsRegistry
from proofs.z3.values import changed, havoc, truth

Mode = Literal["proof", "bounded"]


@dataclass(frozen=True)
class Terminal:
    """A path that stopped: a fault (BUG, Oops, deadlock, assert) or a drop."""

    kind: str
    path: Path
    why: str
    site: Site


@dataclass
class Check:
    """A VC the code itself raises: a loop invariant's initiation or consecution."""

    name: str
    path: Path
    goals: list[tuple[str, Any]]
    site: Site


@dataclass
class Flow:
    normal: list[Path] = field(default_factory=list)
    returns: list[tuple[Path, Any]] = field(default_factory=list)
    breaks: list[Path] = field(default_factory=list)
    continues: list[Path] = field(default_factory=list)

    def add(self, other: Flow) -> None:
        self.normal += other.normal
        self.returns += other.returns
        self.breaks += other.breaks
        self.continues += other.continues


@dataclass(frozen=True)
class Source:
    """A function's parsed source: its def node, file and the lines it starts at."""

    node: ast.FunctionDef
    file: str
    offset: int
    loops: tuple[ast.While, ...]
    globals: Mapping[str, Any]


@cache
def source_of(func: FunctionType) -> Source:
    lines, start = inspect.getsourcelines(func)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise Unsupported(f"{inspect.getsourcefile(func)}:{start}: {func.__qualname__} is not a plain def")
    loops = tuple(n for n in ast.walk(node) if isinstance(n, ast.While))
    file = inspect.getsourcefile(func) or "?"
    return Source(node, file, start - 1, tuple(sorted(loops, key=lambda n: n.lineno)), func.__globals__)


@dataclass
class Frame:
    func: FunctionType
    owner: type | None
    source: Source
    entry: Path
    serial: int
    at: Site | None = None  # the statement being executed

    def site(self, node: ast.AST) -> Site:
        return Site(
            _short(self.source.file), self.source.offset + getattr(node, "lineno", 1), self.func.__name__
        )


def _short(file: str) -> str:
    for root in ("impl/", "spec/", "proofs/"):
        if root in file:
            return root + file.rsplit(root, 1)[1]
    return file


@dataclass
class Config:
    mode: Mode = "proof"
    loops: Mapping[tuple[str, int], Any] = field(default_factory=dict)  # proofs.z3.loops.LoopInvariant
    ghost_posts: Mapping[str, Any] = field(default_factory=dict)  # proofs.z3.loops.GhostPost
    unroll: int = 8


from proofs.z3.expr import Expressions  # noqa: E402  (the expression half of the executor)


class Executor(Expressions):
    """Symbolic execution of one entry point of one variant."""

    def __init__(self, variant: type, config: Config) -> None:
        self.variant = variant
        self.config = config
        self.faults: list[Terminal] = []
        self.dropped: list[Terminal] = []
        self.checks: list[Check] = []
        self.arms: dict[tuple[str, str], list[Path]] = {}  # branch arm -> the paths that took it
        self.cut: list[Path] = []  # bounded mode: paths still looping at the bound
        self.stack: list[Frame] = []
        self.sums = SumsRegistry()
        self._serial = itertools.count()

    # ------------------------------------------------------------ sinks

    def unsupported(self, site: Site, what: str) -> Unsupported:
        return Unsupported(f"{site}: unsupported by the VC generator: {what}")

    def fault(self, path: Path, cond: Any, kind: str, why: str, site: Site) -> None:
        """Record the fault that happens on ``path`` where ``cond`` holds."""
        if cond is False or (z3.is_expr(cond) and z3.is_false(z3.simplify(cond))):
            return
        self.faults.append(Terminal(kind, path.assume(cond), why, self._fault_site(site)))

    def snapshot(self) -> tuple[Any, ...]:
        """How much each sink holds, to take back a trial evaluation's leavings."""
        arms = tuple(sorted((k, len(v)) for k, v in self.arms.items()))
        return len(self.faults), len(self.dropped), len(self.checks), len(self.cut), arms

    def rewind(self, mark: tuple[Any, ...]) -> None:
        faults, dropped, checks, cut, arms = mark
        del self.faults[faults:], self.dropped[dropped:], self.checks[checks:], self.cut[cut:]
        kept = dict(arms)
        self.arms = {k: v[: kept[k]] for k, v in self.arms.items() if k in kept}

    def drop(self, path: Path, why: str, site: Site) -> None:
        self.dropped.append(Terminal("caller precondition", path, why, site))

    def join_key(self, start: Path) -> Callable[[Path], Any]:
        """What paths must share to be joined (after ``start``): the kinds of
        events they logged (joined across them, the rounds of try_to_unmap's
        walk made its consecution VC take 98 s), their locals' names, ghosts
        and allocations; in ``proof`` mode, which of the chain's fields they
        changed (``SHAPE``)."""
        base = start.heap if self.config.mode == "proof" else None

        def key(p: Path) -> Any:
            kinds = tuple(str(event_kind(e)) for e in p.events)
            shape = shape_changes(p.heap, base) if base is not None else ()
            return (kinds, tuple(sorted(p.locals)), value_key(p.ghosts), p.fresh, shape)

        return key

    @property
    def frame(self) -> Frame:
        return self.stack[-1]

    # ------------------------------------------------------------ calls

    def call(
        self,
        func: FunctionType,
        owner: type | None,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        path: Path,
    ) -> list[tuple[Path, Any]]:
        """Inline ``func``: its returns, each with the caller's locals back."""
        source = source_of(func)
        try:
            bound = inspect.signature(func).bind(*args, **kwargs)
        except TypeError as why:
            raise Unsupported(
                f"{_short(source.file)}:{source.offset + 1}: call of {func.__name__}: {why}"
            ) from None
        bound.apply_defaults()
        frame = Frame(func, owner, source, path, next(self._serial))
        self.stack.append(frame)
        try:
            flow = self.block(source.node.body, [path.but(locals=dict(bound.arguments))])
        finally:
            self.stack.pop()
        if flow.breaks or flow.continues:
            raise self.unsupported(frame.site(source.node), "break or continue outside a loop")
        results = [(p, None) for p in flow.normal] + flow.returns
        post = self.config.ghost_posts.get(func.__name__) if self.config.mode == "proof" else None
        out = []
        for p, value in results:
            if post is not None:
                p = post.apply(frame, p, dict(bound.arguments), self.sums.of)
            mine = {k: v for k, v in p.ghosts.items() if k[0] == frame.serial}
            ghosts = {k: v for k, v in p.ghosts.items() if k not in mine}
            out.append((p.but(locals=path.locals, ghosts=ghosts), value))
        return join_returns(out, frame.site(source.node), self.join_key(path))

    # ------------------------------------------------------------ statements

    def block(self, stmts: Sequence[ast.stmt], paths: list[Path]) -> Flow:
        out = Flow()
        current = paths
        for stmt in stmts:
            if not current:
                break
            if isinstance(stmt, ast.While):
                flow = self.loop(stmt, current)
            else:
                flow = Flow()
                for p in current:
                    flow.add(self.statement(stmt, p))
            out.returns += flow.returns
            out.breaks += flow.breaks
            out.continues += flow.continues
            current = flow.normal
        out.normal += current
        return out

    def statement(self, stmt: ast.stmt, path: Path) -> Flow:
        site = self.frame.site(stmt)
        self.frame.at = site
        match stmt:
            case ast.Expr(value=value):
                return Flow([p for p, _ in self.eval(value, path)])
            case ast.Assign(targets=targets, value=value):
                flow = Flow()
                for p, v in self.eval(value, path):
                    for target in targets:
                        p = self.assign(target, v, p, site)
                    flow.normal.append(p)
                return flow
            case ast.AnnAssign(target=target, value=value):
                if value is None:
                    return Flow([path])
                return Flow([self.assign(target, v, p, site) for p, v in self.eval(value, path)])
            case ast.AugAssign(target=target, op=op, value=value):
                return Flow(self.augassign(target, op, value, path, site))
            case ast.If(test=test, body=body, orelse=orelse):
                flow = Flow()
                for p, v in self.eval(test, path):
                    for arm, taken in self.fork(p, truth(v), site, ("then", "else")):
                        flow.add(self.block(body if arm else orelse, [taken]))
                flow.normal = join(flow.normal, site, self.join_key(self.frame.entry))
                return flow
            case ast.Match():
                return self.match(stmt, path, site)
            case ast.Return(value=value):
                if value is None:
                    return Flow(returns=[(path, None)])
                return Flow(returns=self.eval(value, path))
            case ast.Break():
                return Flow(breaks=[path])
            case ast.Continue():
                return Flow(continues=[path])
            case ast.Pass():
                return Flow([path])
            case ast.Raise(exc=exc):
                self.raise_(exc, path, site)
                return Flow()
            case ast.Assert(test=test):
                flow = Flow()
                for p, v in self.eval(test, path):
                    t = truth(v)
                    self.fault(p, z3.Not(t) if z3.is_expr(t) else not t, "assert", "an assert fails", site)
                    if t is not False:
                        flow.normal.append(p.assume(t))
                return flow
        raise self.unsupported(site, type(stmt).__name__)

    def fork(self, path: Path, t: Any, site: Site, labels: tuple[str, str]) -> list[tuple[bool, Path]]:
        if not z3.is_expr(t):
            return [(bool(t), path)]
        simple = z3.simplify(t)
        if z3.is_true(simple) or z3.is_false(simple):
            return [(z3.is_true(simple), path)]
        out = []
        for arm, cond, label in ((True, t, labels[0]), (False, z3.Not(t), labels[1])):
            taken = path.assume(cond)
            key = (str(site), label)
            taken = taken.but(branches=(*taken.branches, key))
            self.arms.setdefault(key, []).append(taken)
            out.append((arm, taken))
        return out

    def assign(self, target: ast.expr, value: Any, path: Path, site: Site) -> Path:
        match target:
            case ast.Name(id=name):
                return path.set_local(name, value)
            case ast.Tuple(elts=elts):
                if not isinstance(value, tuple) or len(value) != len(elts):
                    raise self.unsupported(site, "unpacking a value that is not a tuple of that length")
                for elt, v in zip(elts, value, strict=True):
                    path = self.assign(elt, v, path, site)
                return path
            case ast.Attribute(value=obj_expr, attr=attr):
                results = self.eval(obj_expr, path)
                if len(results) != 1:
                    raise self.unsupported(site, "an assignment target whose evaluation branches")
                p, obj = results[0]
                written = self.write(p, obj, attr, value, site)
                if len(written) != 1:
                    raise self.unsupported(site, "an assignment whose target faults")
                return written[0]
        raise self.unsupported(site, f"assignment to {type(target).__name__}")

    def augassign(
        self, target: ast.expr, op: ast.operator, value: ast.expr, path: Path, site: Site
    ) -> list[Path]:
        out = []
        for p, current in self.eval(target, path):
            for q, v in self.eval(value, p):
                out.append(self.assign(target, self.binop(op, current, v, site), q, site))
        return out

    def match(self, stmt: ast.Match, path: Path, site: Site) -> Flow:
        flow = Flow()
        for p, subject in self.eval(stmt.subject, path):
            rest: list[Path] = [p]
            for case in stmt.cases:
                if case.guard is not None:
                    raise self.unsupported(self.frame.site(case.pattern), "a case guard")
                pattern = case.pattern
                if isinstance(pattern, ast.MatchAs) and pattern.pattern is None and pattern.name is None:
                    flow.add(self.block(case.body, rest))
                    rest = []
                    break
                if not isinstance(pattern, ast.MatchValue):
                    raise self.unsupported(
                        self.frame.site(pattern), f"the case pattern {type(pattern).__name__}"
                    )
                later = []
                for q in rest:
                    for r, value in self.eval(pattern.value, q):
                        label = ast.unparse(pattern.value)
                        hit = self.compare(ast.Eq(), subject, value, site)
                        for arm, taken in self.fork(
                            r, hit, self.frame.site(pattern), (label, f"not {label}")
                        ):
                            if arm:
                                flow.add(self.block(case.body, [taken]))
                            else:
                                later.append(taken)
                rest = later
            flow.normal += rest  # no case matched: the match does nothing
        flow.normal = join(flow.normal, site, self.join_key(self.frame.entry))
        return flow

    def raise_(self, exc: ast.expr | None, path: Path, site: Site) -> None:
        from impl.callers import CallerPrecondition
        from impl.kernel import KernelFault

        if not isinstance(exc, ast.Call):
            raise self.unsupported(site, "a raise that does not construct its exception")
        [(p, cls)] = self.eval(exc.func, path)
        why = ast.unparse(exc)
        for arg in exc.args:  # the message, when it is a plain string (BUG's why)
            if isinstance(arg, ast.Name) and isinstance(p.locals.get(arg.id), str):
                why = p.locals[arg.id]
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                why = arg.value
        where = self._fault_site(site)
        if isinstance(cls, type) and issubclass(cls, KernelFault):
            self.faults.append(Terminal(cls.kind, p, why, where))
        elif cls is CallerPrecondition:
            self.drop(p, why, where)
        else:
            raise self.unsupported(site, f"raising {cls!r}")

    def _fault_site(self, site: Site) -> Site:
        """Where a fault is reported: the statement of the innermost frame
        outside impl/kernel.py (the rmap line that called BUG, say)."""
        for frame in reversed(self.stack):
            if not frame.source.file.endswith("impl/kernel.py") and frame.at is not None:
                return frame.at
        return site

    # ------------------------------------------------------------ loops

    def loop(self, stmt: ast.While, paths: list[Path]) -> Flow:
        if stmt.orelse:
            raise self.unsupported(self.frame.site(stmt), "while ... else")
        if self.config.mode == "bounded":
            return self.unrolled(stmt, paths)
        return self.inductive(stmt, paths)

    def unrolled(self, stmt: ast.While, paths: list[Path]) -> Flow:
        out = Flow()
        pending = paths
        site = self.frame.site(stmt)
        for _ in range(self.config.unroll + 1):
            pending = merge_alike(pending, site, lambda q: q.locals) if len(pending) > 1 else pending
            again: list[Path] = []
            for p in pending:
                for q, v in self.eval(stmt.test, p):
                    for arm, taken in self.fork(q, truth(v), site, ("loop", "exit")):
                        if not arm:
                            out.normal.append(taken)
                            continue
                        flow = self.block(stmt.body, [taken])
                        out.returns += flow.returns
                        out.normal += flow.breaks
                        again += flow.normal + flow.continues
            pending = again
        self.cut += pending
        return out

    def inductive(self, stmt: ast.While, paths: list[Path]) -> Flow:
        frame = self.frame
        index = frame.source.loops.index(stmt)
        site = frame.site(stmt)
        key = (frame.func.__name__, index)
        # One implementation's own loop (Class.function) before any function's of that name.
        invariant = self.config.loops.get((frame.func.__qualname__, index)) or self.config.loops.get(key)
        if invariant is None:
            raise self.unsupported(
                site, f"loop {index} of {frame.func.__name__} has no invariant in proofs/z3/loops.py"
            )
        # The loop's iterations are one marker in the event log: the flush
        # rules are stated only where a loop logs nothing (properties.FLUSH).
        entry = merge(paths, site)
        entry = entry.but(events=(*entry.events, ("loop", key)), branches=())
        sums = self.sums.of
        ghosts = invariant.initial(frame, entry, sums)
        start = invariant.conjuncts(frame, entry, entry, ghosts, sums)
        self.checks.append(Check(f"{invariant.name}: initiation", entry, start, site))
        head = self.havoc_loop(stmt, entry, key, invariant)
        g = head.ghosts[(frame.serial, index)]
        head = head.assume(z3.And(*[t for _, t in invariant.conjuncts(frame, entry, head, g, sums)]))
        out = Flow()
        for q, v in self.eval(stmt.test, head):
            for arm, taken in self.fork(q, truth(v), site, ("loop", "exit")):
                if not arm:
                    out.normal.append(taken)
                    continue
                flow = self.block(stmt.body, [taken])
                # One consecution VC per kind of round: the rounds that leave
                # the loop's locals alike (they differ in data, not in control)
                # are merged at the back edge.
                for p in merge_alike(flow.normal + flow.continues, site, lambda q: q.locals):
                    after = invariant.advance(frame, entry, taken, p, g, sums)
                    goals = invariant.conjuncts(frame, entry, p, after, sums)
                    self.checks.append(Check(f"{invariant.name}: preserved", p, goals, site))
                out.normal += flow.breaks
                out.returns += flow.returns
        return out

    def havoc_loop(self, stmt: ast.While, entry: Path, key: tuple[str, int], invariant: Any) -> Path:
        """The loop head: what rounds of the body can change, made fresh.

        What one round changes is found by running the body (its VCs and
        faults discarded) from the entry, then again from the entry with
        what changed made fresh, until nothing more changes: a write that
        only a later round makes (through a prev_pc that is NULL at first)
        is found in the second."""
        tag = f"L{self.frame.serial}.{key[0]}.{key[1]}"
        fields: set[str] = set()
        names: set[str] = set()
        while True:
            head = self._fresh_head(entry, fields, names, tag)
            around = self._scout(stmt, head)
            if any(p.fresh != entry.fresh for p in around):
                raise self.unsupported(self.frame.site(stmt), "an allocation inside a loop")
            more_fields = {f for p in around for f in p.heap.changed(head.heap)} - fields
            more_names = {n for p in around for n in head.locals if changed(head.locals[n], p.locals.get(n))}
            more_names -= names
            if not more_fields and not more_names:
                break
            fields |= more_fields
            names |= more_names
        ghosts = {name: _fresh_sort(sort, f"{tag}:ghost.{name}") for name, sort in invariant.ghosts}
        all_ghosts = {**entry.ghosts, (self.frame.serial, key[1]): ghosts}
        return head.but(ghosts=all_ghosts)

    def _fresh_head(self, entry: Path, fields: set[str], names: set[str], tag: str) -> Path:
        heap = entry.heap.update({f: _fresh_like(entry.heap[f], f"{tag}:{f}") for f in sorted(fields)})
        local_values = {**entry.locals, **{n: havoc(entry.locals[n], f"{tag}:{n}") for n in sorted(names)}}
        return entry.but(heap=heap, locals=local_values)

    def _scout(self, stmt: ast.While, head: Path) -> list[Path]:
        """The paths once round the body from ``head``, with no VC or fault kept."""
        saved = (self.faults, self.dropped, self.checks, self.arms, self.cut)
        self.faults, self.dropped, self.checks, self.arms, self.cut = [], [], [], {}, []
        try:
            flow = Flow()
            for q, v in self.eval(stmt.test, head):
                flow.add(self.block(stmt.body, [q.assume(truth(v))]))
        finally:
            self.faults, self.dropped, self.checks, self.arms, self.cut = saved
        return flow.normal + flow.continues


def _fresh_like(term: Any, name: str) -> Any:
    return z3.Const(name, term.sort())


def _fresh_sort(sort: z3.SortRef | Callable[[], z3.SortRef], name: str) -> Any:
    return z3.Const(name, sort() if callable(sort) else sort)
