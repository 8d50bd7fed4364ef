"""Replaying scenarios: one JSON operation a line in, one state record out.

The format is ``impl.trace_schema`` (docs/traces.md is generated from it).
``parse_trace`` validates every line of a trace before anything runs: the
schema of each operation and world, the consistency of each world, and
that every name an operation uses is in the world current at that line.
A ``Session`` holds one modelled kernel bound to one variant; ``apply``
runs one operation and returns its record.  A kernel fault (BUG, oops,
deadlock) is reported in the record and the world stays as the fault left
it; a caller-side precondition that does not hold is reported and nothing
changes.  Malformed input raises ``TraceError`` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from msgspec import UNSET

from impl.abstraction import Unabstractable, chain_nodes, rmap_entries
from impl.callers import CallerPrecondition, map_pte, reclaim, zap_pte
from impl.flush_rules import flush_violations
from impl.invariants import violations
from impl.kernel import (
    FLAG_NAMES,
    MM,
    SWAP_NAMES,
    VM_LOCKED,
    Kernel,
    KernelFault,
    Page,
    PageDirect,
    PageSwapCache,
    PG_dirty,
    PG_locked,
    PG_referenced,
    PG_reserved,
    PG_swapcache,
    Pte,
    set_flag,
    test_flag,
)
from impl.refinement import Step
from impl.rmap_seed import SeedRmap
from impl.trace_schema import (
    OPS,
    FailAlloc,
    Lock,
    Map,
    Mlock,
    Op,
    PageAddRmap,
    PageRemoveRmap,
    Paths,
    Reclaim,
    Referenced,
    ScheduleStep,
    SchemaError,
    SetPage,
    SetPte,
    TryToUnmap,
    TryToUnmapOne,
    Unlock,
    Vmas,
    World,
    Zap,
    as_dict,
    convert,
    decode_line,
)
from impl.variants import make_rmap
from impl.world import (
    InjectedCache,
    WorldError,
    as_world,
    build_world,
    check_vmas,
    inject_failures,
    make_vmas,
    swap_cache_problem,
)

__all__ = [
    "OPS",
    "Session",
    "TraceError",
    "apply_line",
    "parse_trace",
    "replay",
    "replay_on",
    "schedule_line",
]

OTHER_CPU = "cpu1"


class TraceError(ValueError):
    """A malformed trace line; the message is one line naming it."""


# A schedule (``paths`` and its ``step`` operations) suspends kernel paths at
# their lock acquisitions; only the interleaving engine (proofs.interleave)
# can do that, so a plain session refuses it.
NO_SCHEDULE = "a concurrent schedule runs only on the interleaving engine (rmap-verify replay), not here"


@dataclass
class Session:
    """One replay: a modelled kernel bound to a variant."""

    variant: str = "fixed"
    debug_rmap: bool = False
    k: Kernel = field(default_factory=Kernel)
    rmap: SeedRmap | None = None
    _events_seen: int = 0

    def start(self, world: World) -> None:
        self.k = build_world(world)
        self.rmap = make_rmap(self.variant, self.k, debug_rmap=self.debug_rmap)
        inject_failures(self.k)  # fail_alloc's ``after``
        self._events_seen = 0

    # -- lookups, each a TraceError naming what is unknown
    def page(self, pfn: int) -> Page:
        page = self.k.mem_map.get(pfn) or self.k.io_pages.get(pfn)
        if page is None:
            raise TraceError(f"unknown page {pfn}")
        return page

    def pte(self, name: str) -> Pte:
        if name not in self.k.ptes:
            raise TraceError(f"unknown pte {name!r}")
        return self.k.ptes[name]

    def mm_named(self, name: str) -> MM:
        if name not in self.k.mms:
            raise TraceError(f"unknown mm {name!r}")
        return self.k.mms[name]

    def run(self, op: Op) -> Any:
        """Run one validated operation and nothing else: no record, no spec check
        (a setup nobody reads); a caller precondition or a kernel fault raises."""
        if isinstance(op, World):
            try:
                self.start(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            return None
        if self.rmap is None:
            raise TraceError("the first operation must be 'world'")
        return _ACTIONS[type(op)](self, op)

    def apply(self, op: Mapping[str, Any] | Op) -> dict[str, Any]:
        """Run one operation (validated here when given as plain data) and return its state record."""
        if not isinstance(op, Op):
            op = validated(op)
        name = _name(op)
        if isinstance(op, World):
            try:
                self.start(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            return self.record(name, None)
        if self.rmap is None:
            raise TraceError("the first operation must be 'world'")
        step = Step.before(self.k, name, as_dict(op))
        try:
            result = _ACTIONS[type(op)](self, op)
        except CallerPrecondition as why:
            return self.record(name, None, precondition=str(why))
        except KernelFault as fault:
            return self.record(name, None, fault=fault, step=step)
        return self.record(name, result, step=step)

    def perform(self, op: Op) -> Any:
        """Run one validated operation other than ``world`` for its result alone, without the
        record ``apply`` makes (a search's fast path); a fault or caller precondition raises."""
        return _ACTIONS[type(op)](self, op)

    def record(
        self,
        op: str,
        result: Any,
        *,
        fault: KernelFault | None = None,
        precondition: str | None = None,
        step: Step | None = None,
    ) -> dict[str, Any]:
        k = self.k
        events = k.events[self._events_seen :]
        reason = None if fault is None else str(fault)
        self._events_seen = len(k.events)
        return {
            "op": op,
            "result": result,
            "fault": None if fault is None else {"kind": fault.kind, "where": fault.where, "why": fault.why},
            "precondition": precondition,
            "pages": [page_record(k, p) for p in [*k.mem_map.values(), *k.io_pages.values()]],
            "mms": [
                {"name": mm.name, "rss": mm.rss, "page_table_lock": mm.page_table_lock.holder}
                for mm in k.mms.values()
            ],
            "ptes": [pte_record(p) for p in k.ptes.values()],
            "swap": {str(e): c for e, c in sorted(k.swap_map.items())},
            "nr_reverse_maps": k.page_state.nr_reverse_maps,
            "pte_chain_objects": len(k.pte_chain_cache.live) if k.pte_chain_cache else 0,
            "flushes": [[e.kind, e.mm, e.address] for e in events if e.kind.startswith("flush_")],
            # the state's invariants, and the flush rules on this operation's events
            "violations": {**violations(k), **flush_violations(events)},
            "spec_mismatch": [] if step is None else step.check(k, result, reason),
        }


def page_record(k: Kernel, page: Page) -> dict[str, Any]:
    try:
        entries: list[str] | str = [p.name for p in rmap_entries(k, page)]
        nodes = 0 if PageDirect(page) else len(chain_nodes(k, page))
    except Unabstractable as why:
        entries, nodes = f"unwalkable: {why}", -1
    return {
        "pfn": page.pfn,
        "valid": k.pfn_valid(page.pfn),
        "direct": PageDirect(page),
        "rmap": entries,
        "chain_nodes": nodes,
        "count": page.count,
        "flags": [n for bit, n in sorted(FLAG_NAMES.items()) if test_flag(page, bit)],
        "mapping": page.mapping,
        "index": page.index,
    }


def pte_record(pte: Pte) -> dict[str, Any]:
    v = pte.val
    return {
        "name": pte.name,
        "mm": pte.mm.name,
        "address": pte.address,
        "present": v.present,
        "pfn": v.pfn if v.present else None,
        "young": v.young,
        "dirty": v.dirty,
        "swap": v.swap,
    }


# ------------------------------------------------------------------ actions


def _rmap(s: Session) -> SeedRmap:
    assert s.rmap is not None
    return s.rmap


def _referenced(s: Session, op: Referenced) -> int:
    page, k = s.page(op.pfn), s.k
    k.pte_chain_lock(page)
    count = _rmap(s).page_referenced(page)
    k.pte_chain_unlock(page)
    return count


def _reclaim(s: Session, op: Reclaim) -> dict[str, Any]:
    r = reclaim(_rmap(s), s.page(op.pfn))
    swap = None if r.swap_result is None else SWAP_NAMES[r.swap_result]
    return {"referenced": r.referenced, "try_to_unmap": swap, "disposition": r.disposition}


def _lock(s: Session, mm: str, take: bool) -> None:
    lock = s.mm_named(mm).page_table_lock
    if take and lock.holder is not None:
        raise CallerPrecondition(f"{mm}'s page_table_lock is already held by {lock.holder}")
    if not take and lock.holder != OTHER_CPU:
        raise CallerPrecondition(f"{mm}'s page_table_lock is not held by {OTHER_CPU}")
    lock.holder = OTHER_CPU if take else None


_PAGE_FLAGS = {
    "swapcache": PG_swapcache,
    "reserved": PG_reserved,
    "locked": PG_locked,
    "referenced": PG_referenced,
    "dirty": PG_dirty,
}


def _set_page(s: Session, op: SetPage) -> None:
    page = s.page(op.pfn)
    given = as_dict(op)
    swapcache = given.get("swapcache", PageSwapCache(page))
    index = given.get("index", page.index)
    assert isinstance(index, int)
    problem = swap_cache_problem(page.pfn, index, s.k.swap_map) if swapcache else None
    if problem:
        raise TraceError(problem)
    for key, bit in _PAGE_FLAGS.items():
        if key in given:
            set_flag(page, bit, bool(given[key]))
    page.index = index
    if "mapping" in given:
        page.mapping = str(given["mapping"]) or None


def _set_pte(s: Session, op: SetPte) -> None:
    pte = s.pte(op.pte)
    if not pte.val.present:
        raise CallerPrecondition(f"{pte.name} is not present; only a present pte has young/dirty bits")
    bits = {key: value for key, value in as_dict(op).items() if key in ("young", "dirty")}
    pte.val = type(pte.val)(**{**pte.val.__dict__, **bits})


def _mlock(s: Session, op: Mlock) -> None:
    mm = s.mm_named(op.mm)
    vma = next((v for v in mm.vmas if v.vm_start <= op.address < v.vm_end), None)
    if vma is None:
        raise CallerPrecondition(f"no vma of {mm.name} contains address {op.address}")
    vma.vm_flags = vma.vm_flags | VM_LOCKED if op.on else vma.vm_flags & ~VM_LOCKED


def _vmas(s: Session, op: Vmas) -> None:
    mm = s.mm_named(op.mm)
    try:
        check_vmas(f"mm {op.mm}", op.vmas)
    except WorldError as why:
        raise TraceError(str(why)) from None
    mm.vmas = make_vmas(op.vmas)


def _fail_alloc(s: Session, op: FailAlloc) -> None:
    cache = s.k.pte_chain_cache
    assert isinstance(cache, InjectedCache)
    cache.fail_next, cache.succeed = op.n, op.after


def _map(s: Session, op: Map) -> str:
    return map_pte(_rmap(s), s.pte(op.pte), s.page(op.pfn), dirty=op.dirty)


def _zap(s: Session, op: Zap) -> None:
    zap_pte(_rmap(s), s.pte(op.pte))


def _page_add_rmap(s: Session, op: PageAddRmap) -> int | None:
    return _rmap(s).page_add_rmap(s.page(op.pfn), s.pte(op.pte))


def _page_remove_rmap(s: Session, op: PageRemoveRmap) -> None:
    _rmap(s).page_remove_rmap(s.page(op.pfn), s.pte(op.pte))


def _try_to_unmap(s: Session, op: TryToUnmap) -> str:
    return SWAP_NAMES[_rmap(s).try_to_unmap(s.page(op.pfn))]


def _try_to_unmap_one(s: Session, op: TryToUnmapOne) -> str:
    return SWAP_NAMES[_rmap(s).try_to_unmap_one(s.page(op.pfn), s.pte(op.pte))]


def _lock_op(s: Session, op: Lock) -> None:
    _lock(s, op.mm, True)


def _unlock_op(s: Session, op: Unlock) -> None:
    _lock(s, op.mm, False)


def _schedule(s: Session, op: Paths | ScheduleStep) -> None:
    raise TraceError(NO_SCHEDULE)


_ACTIONS: dict[type[Op], Callable[[Session, Any], Any]] = {
    Map: _map,
    Zap: _zap,
    Referenced: _referenced,
    Reclaim: _reclaim,
    PageAddRmap: _page_add_rmap,
    PageRemoveRmap: _page_remove_rmap,
    TryToUnmap: _try_to_unmap,
    TryToUnmapOne: _try_to_unmap_one,
    Lock: _lock_op,
    Unlock: _unlock_op,
    SetPage: _set_page,
    SetPte: _set_pte,
    Mlock: _mlock,
    Vmas: _vmas,
    FailAlloc: _fail_alloc,
    Paths: _schedule,
    ScheduleStep: _schedule,
}


def _name(op: Op) -> str:
    return str(type(op).__struct_config__.tag)


def validated(op: object) -> Op:
    """An operation given as plain data, checked against the schema (TraceError if it is not one)."""
    try:
        return convert(op)
    except SchemaError as why:
        raise TraceError(str(why)) from None


# ------------------------------------------------------------------ reading


@dataclass
class _Names:
    """What the world current at a line declares, to check each operation's names before any runs."""

    pages: dict[int, tuple[bool, int]] = field(default_factory=dict)  # pfn -> (swapcache, index)
    ptes: set[str] = field(default_factory=set)
    mms: set[str] = field(default_factory=set)
    swap: dict[int, int] = field(default_factory=dict)
    cpus: int | None = None  # the paths of this world's paths operation, once there is one

    def check(self, op: Op) -> None:
        if isinstance(op, World):
            self.cpus = None
            try:
                as_world(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            self.pages = {p.pfn: (p.swapcache, p.index) for p in op.pages}
            self.ptes, self.mms, self.swap = (
                {t.name for t in op.ptes},
                {m.name for m in op.mms},
                dict(op.swap),
            )
            return
        if isinstance(op, Paths | ScheduleStep) or self.cpus is not None:
            self._check_schedule(op)
            return
        pfn, pte, mm = (getattr(op, key, None) for key in ("pfn", "pte", "mm"))
        self._check_names(pfn, pte, mm)
        if isinstance(op, Vmas):
            try:
                check_vmas(f"mm {op.mm}", op.vmas)
            except WorldError as why:
                raise TraceError(str(why)) from None
        if isinstance(op, SetPage):
            given = as_dict(op)
            swapcache, index = self.pages[op.pfn]
            swapcache, index = bool(given.get("swapcache", swapcache)), int(str(given.get("index", index)))
            problem = swap_cache_problem(op.pfn, index, self.swap) if swapcache else None
            if problem:
                raise TraceError(problem)
            self.pages[op.pfn] = (swapcache, index)

    def _check_names(self, pfn: int | None, pte: str | None, mm: str | None) -> None:
        if pfn is not None and pfn not in self.pages:
            raise TraceError(f"pfn: unknown page {pfn}")
        if pte is not None and pte not in self.ptes:
            raise TraceError(f"pte: unknown pte {pte!r}")
        if mm is not None and mm not in self.mms:
            raise TraceError(f"mm: unknown mm {mm!r}")

    def _check_schedule(self, op: Op) -> None:
        """One paths operation per world, only steps after it, each of a CPU it started."""
        if isinstance(op, Paths):
            if self.cpus is not None:
                raise TraceError("a world has one paths operation; start a new world for another")
            for n, path in enumerate(op.paths):
                given = {key for key in ("pte", "pfn") if getattr(path, key) is not UNSET}
                needed = _PATH_KEYS[path.kind]
                if given != needed:
                    keys = " and ".join(sorted(needed))
                    raise TraceError(f"paths[{n}]: a {path.kind} path has {keys}, nothing else")
                self._check_names(
                    path.pfn if isinstance(path.pfn, int) else None,
                    path.pte if isinstance(path.pte, str) else None,
                    None,
                )
            self.cpus = len(op.paths)
        elif not isinstance(op, ScheduleStep):
            raise TraceError("only step operations follow a paths operation (until the next world)")
        elif self.cpus is None:
            raise TraceError("a step needs a paths operation before it")
        elif op.cpu not in {f"cpu{n}" for n in range(self.cpus)}:
            raise TraceError(f"cpu: unknown cpu {op.cpu!r} (the paths run on cpu0..cpu{self.cpus - 1})")


_PATH_KEYS = {"fault": {"pte", "pfn"}, "zap": {"pte"}, "reclaim": {"pfn"}}


def parse_trace(lines: Iterable[str | bytes], source: str) -> list[tuple[int, Op]]:
    """(line number, operation) for each non-blank line, every line checked before any runs.

    TraceError names the source, the line and the field: not UTF-8 JSON, an
    operation or world the schema rejects, an inconsistent world, a name
    the current world does not declare, an empty trace, or a first
    operation other than ``world``.
    """
    ops: list[tuple[int, Op]] = []
    names = _Names()
    for number, line in enumerate(lines, 1):
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        if not data.strip():
            continue
        try:
            op = decode_line(data)
            if not ops and not isinstance(op, World):
                raise TraceError("the first operation must be 'world'")
            names.check(op)
        except SchemaError as why:
            raise TraceError(f"{source}:{number}: {why}") from None
        except TraceError as why:
            raise TraceError(f"{source}:{number}: {_name(op)}: {why}") from None
        ops.append((number, op))
    if not ops:
        raise TraceError(f"{source}: the trace is empty (its first line must be a 'world' operation)")
    return ops


def schedule_line(ops: Iterable[tuple[int, Op]]) -> int | None:
    """The line of the trace's first paths operation (a concurrent schedule), or None."""
    return next((number for number, op in ops if isinstance(op, Paths)), None)


def apply_line(session: Session, source: str, number: int, op: Op) -> dict[str, Any]:
    """One parsed operation on ``session``: its record, with its line; a TraceError names the line."""
    try:
        record = session.apply(op)
    except TraceError as why:
        raise TraceError(f"{source}:{number}: {_name(op)}: {why}") from None
    return {"line": number, **record}


def replay(
    lines: Iterable[str | bytes], source: str, variant: str, *, debug_rmap: bool = False
) -> Iterator[dict[str, Any]]:
    """Replay a trace, checked whole first; yields one record per operation (with its line)."""
    yield from replay_on(Session(variant, debug_rmap), lines, source)


def replay_on(session: Session, lines: Iterable[str | bytes], source: str) -> Iterator[dict[str, Any]]:
    """``replay`` on a session of one's own (the C oracle's ``impl.c.session.CSession``)."""
    for number, op in parse_trace(lines, source):
        yield apply_line(session, source, number, op)
