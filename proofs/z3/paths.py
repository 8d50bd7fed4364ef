"""Paths of the symbolic execution, and how paths that meet become one.

A ``Path`` is what proofs.z3.lift executes code on: its condition, the
state, the locals, the events it logged, the branch arms it took.  Where
paths meet (a join after a branch, a loop's entry, an entry's returns)
``merge`` makes them one path whose state is z3 ``If`` terms over their
conditions; ``join`` merges only the paths a key says may be one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import z3

from proofs.z3.heap import Heap, ite_heap
from proofs.z3.values import Record, conj, disj, ite


class Unsupported(Exception):
    """Code the generator cannot translate; the message names file:line."""


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Path:
    cond: tuple[Any, ...]
    heap: Heap
    locals: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[Any, ...] = ()
    branches: tuple[tuple[str, str], ...] = ()
    ghosts: Mapping[Any, Mapping[str, Any]] = field(default_factory=dict)
    fresh: int = 0

    def but(self, **changes: Any) -> Path:
        return replace(self, **changes)

    def assume(self, c: Any) -> Path:
        if c is True:
            return self
        return replace(self, cond=(*self.cond, z3.BoolVal(bool(c)) if isinstance(c, bool) else c))

    def event(self, e: Any) -> Path:
        return replace(self, events=(*self.events, e))

    def set_local(self, name: str, value: Any) -> Path:
        return replace(self, locals={**self.locals, name: value})

    @property
    def condition(self) -> Any:
        return conj(self.cond)


def common_prefix(conds: list[tuple[Any, ...]]) -> int:
    """How many leading conditions (the same objects) every path shares."""
    shortest = min(len(c) for c in conds)
    for k in range(shortest):
        if any(c[k] is not conds[0][k] for c in conds):
            return k
    return shortest


def value_key(value: Any) -> Any:
    """What tells two values apart for merging: a term by its identity."""
    if z3.is_expr(value):
        return ("term", value.get_id())
    if isinstance(value, Mapping):
        return tuple((k, value_key(v)) for k, v in sorted(value.items()))
    if isinstance(value, tuple):
        return tuple(value_key(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, *(value_key(getattr(value, f.name)) for f in dataclasses.fields(value)))
    return ("value", repr(value))


def merge_alike(paths: list[Path], site: Site, what: Callable[[Path], Any]) -> list[Path]:
    """The paths merged into one per distinct ``what`` (compared by value_key),
    in the order each first appears."""
    groups: dict[Any, list[Path]] = {}
    for p in paths:
        groups.setdefault(value_key(what(p)), []).append(p)
    return [merge(group, site) for group in groups.values()]


# The fields that hold the chain's shape: paths that changed them differently
# are not joined in ``proof`` mode (the invariants' quantifiers over an If of
# two chains made one of page_remove_rmap's VCs take 16 s instead of 2).
SHAPE = (
    "page.word",
    "node.next",
    "node.ptep",
    "g.n",
    "g.nd",
    "g.npos",
    "g.ppos",
    "g.pe",
    "g.other",
    "g.base",
)


def shape_changes(heap: Heap, base: Heap) -> tuple[str, ...]:
    """The fields of SHAPE whose terms in ``heap`` differ from ``base``'s."""
    return tuple(f for f in SHAPE if heap[f] is not base[f] and not z3.eq(heap[f], base[f]))


def join(paths: list[Path], site: Site, key: Callable[[Path], Any]) -> list[Path]:
    """The paths that meet after a branch, merged where ``key`` says they
    can be one path (Executor.join_key) and their locals can be one value
    each: later statements are then run once, not once per path (Serval's
    merge at join points)."""
    if len(paths) < 2:
        return paths
    groups: dict[Any, list[Path]] = {}
    for p in paths:
        groups.setdefault(key(p), []).append(p)
    out = []
    for group in groups.values():
        try:
            merged = merge(group, site)
        except Unsupported:
            out += group
            continue
        joined = (*merged.branches, (str(site), "joined"))
        out.append(merged if len(group) == 1 else merged.but(branches=joined))
    return out


def join_returns(
    results: list[tuple[Path, Any]], site: Site, key: Callable[[Path], Any]
) -> list[tuple[Path, Any]]:
    """A call's returns merged into one per answer (see ``join``)."""
    if len(results) < 2:
        return results
    by_value: dict[Any, list[tuple[Path, Any]]] = {}
    for p, v in results:
        by_value.setdefault(value_key(v), []).append((p, v))
    return [(q, group[0][1]) for group in by_value.values() for q in join([p for p, _ in group], site, key)]


def merge(paths: list[Path], site: Site) -> Path:
    """One path standing for several that reach the same point."""
    if len(paths) == 1:
        return paths[0]
    first, *rest = paths
    shared = common_prefix([p.cond for p in paths])
    cond = (*first.cond[:shared], disj(conj(p.cond[shared:]) for p in paths))
    heap, local_values = first.heap, dict(first.locals)
    for p in rest:
        c = z3.Not(conj(p.cond[shared:]))  # where p's branch fails, the earlier paths' values stand
        heap = ite_heap(c, heap, p.heap)
        names = set(local_values) & set(p.locals)
        try:
            local_values = {n: ite(c, local_values[n], p.locals[n]) for n in names}
        except TypeError as why:
            raise Unsupported(f"{site}: paths that meet here disagree on a local: {why}") from None
    if any(p.ghosts != first.ghosts for p in rest):
        raise Unsupported(f"{site}: paths that meet here come through different loops")
    events = merge_events([p.events for p in paths], [z3.Not(conj(p.cond[shared:])) for p in rest])
    branches = first.branches[: common_prefix([p.branches for p in paths])]
    return Path(cond, heap, local_values, events, branches, first.ghosts, max(p.fresh for p in paths))


UNKNOWN_EVENTS = ("events", "the merged paths logged different kinds of events")


def merge_events(logs: list[tuple[Any, ...]], otherwise: list[Any]) -> tuple[Any, ...]:
    """One event log for merged paths: position by position when they logged
    the same kinds in the same order (``otherwise[i]``: where path i+1's
    branch fails, the earlier logs stand), else a marker that says the
    order is not known (a property over the log refuses it)."""
    first, *rest = logs
    kinds = [tuple(event_kind(e) for e in log) for log in logs]
    if any(k != kinds[0] for k in kinds):
        return (UNKNOWN_EVENTS,)
    merged = list(first)
    for c, log in zip(otherwise, rest, strict=True):
        merged = [ite(c, a, b) if isinstance(a, Record) else a for a, b in zip(merged, log, strict=True)]
    return tuple(merged)


def event_kind(event: Any) -> Any:
    return event.get("kind") if isinstance(event, Record) else event
