"""Replaying scenarios: one JSON operation a line in, one state record out.

The format is documented in docs/traces.md (generated from ``OPS`` below).
A ``Session`` holds one modelled kernel bound to one variant; ``apply``
runs one operation and returns its record.  A kernel fault (BUG, oops,
deadlock) is reported in the record and the world stays as the fault left
it; a caller-side precondition that does not hold is reported and nothing
changes.  Malformed input raises ``TraceError`` with a one-line message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from impl.abstraction import Unabstractable, chain_nodes, rmap_entries
from impl.callers import CallerPrecondition, map_pte, reclaim, zap_pte
from impl.invariants import violations
from impl.kernel import (
    FLAG_NAMES,
    SWAP_NAMES,
    VM_LOCKED,
    Kernel,
    KernelFault,
    Page,
    PageDirect,
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
from impl.variants import make_rmap
from impl.world import WorldError, build_world

OTHER_CPU = "cpu1"


class TraceError(ValueError):
    """A malformed trace line; the message is one line naming it."""


@dataclass(frozen=True)
class OpSpec:
    """One trace operation: its fields and what it does (for docs/)."""

    fields: dict[str, type]
    optional: dict[str, type]
    doc: str


OPS: dict[str, OpSpec] = {
    "world": OpSpec(
        {},
        {"pages": list, "mms": list, "ptes": list, "swap": dict},
        "Start over with a new world (must come first).",
    ),
    "map": OpSpec({"pte": str, "pfn": int}, {"dirty": bool}, "Fault or fork maps page pfn at pte (map_pte)."),
    "zap": OpSpec({"pte": str}, {}, "munmap/exit clears pte (zap_pte)."),
    "referenced": OpSpec({"pfn": int}, {}, "page_referenced under pte_chain_lock, as reclaim calls it."),
    "reclaim": OpSpec({"pfn": int}, {}, "shrink_cache on page pfn (reclaim)."),
    "page_add_rmap": OpSpec({"pfn": int, "pte": str}, {}, "Raw page_add_rmap(page, pte)."),
    "page_remove_rmap": OpSpec({"pfn": int, "pte": str}, {}, "Raw page_remove_rmap(page, pte)."),
    "try_to_unmap": OpSpec({"pfn": int}, {}, "Raw try_to_unmap(page); the caller's locks are not taken."),
    "try_to_unmap_one": OpSpec({"pfn": int, "pte": str}, {}, "Raw try_to_unmap_one(page, pte)."),
    "lock": OpSpec({"mm": str}, {}, "Another CPU takes mm's page_table_lock."),
    "unlock": OpSpec({"mm": str}, {}, "The other CPU releases mm's page_table_lock."),
    "set_page": OpSpec(
        {"pfn": int},
        {
            "swapcache": bool,
            "index": int,
            "reserved": bool,
            "locked": bool,
            "referenced": bool,
            "dirty": bool,
            "mapping": str,
        },
        'Set page flags or fields (mapping "" clears it).',
    ),
    "set_pte": OpSpec(
        {"pte": str}, {"young": bool, "dirty": bool}, "Set the hardware bits of a present pte."
    ),
    "mlock": OpSpec(
        {"mm": str, "address": int},
        {"on": bool},
        "Set (or with on=false clear) VM_LOCKED on the vma containing address.",
    ),
    "vmas": OpSpec(
        {"mm": str, "vmas": list}, {}, "Replace mm's vmas ({start, end, locked}); a gap models mremap/munmap."
    ),
    "fail_alloc": OpSpec({"n": int}, {}, "The next n GFP_ATOMIC pte_chain allocations fail."),
}


@dataclass
class Session:
    """One replay: a modelled kernel bound to a variant."""

    variant: str = "fixed"
    debug_rmap: bool = False
    k: Kernel = field(default_factory=Kernel)
    rmap: SeedRmap | None = None
    _flushes_seen: int = 0

    def start(self, desc: Mapping[str, Any]) -> None:
        self.k = build_world(desc)
        self.rmap = make_rmap(self.variant, self.k, debug_rmap=self.debug_rmap)
        self._flushes_seen = 0

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

    def mm_named(self, name: str) -> Any:
        if name not in self.k.mms:
            raise TraceError(f"unknown mm {name!r}")
        return self.k.mms[name]

    def apply(self, op: Mapping[str, Any]) -> dict[str, Any]:
        """Run one operation and return its state record."""
        name = _check_op(op)
        if name == "world":
            try:
                self.start(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            return self.record(name, None)
        if self.rmap is None:
            raise TraceError("the first operation must be 'world'")
        action = _ACTIONS[name]
        step = Step.before(self.k, name, op)
        try:
            result = action(self, op)
        except CallerPrecondition as why:
            return self.record(name, None, precondition=str(why))
        except KernelFault as fault:
            return self.record(name, None, fault=fault, step=step)
        return self.record(name, result, step=step)

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
        flushes = k.flushes[self._flushes_seen :]
        reason = None if fault is None else str(fault)
        self._flushes_seen = len(k.flushes)
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
            "flushes": [list(f) for f in flushes],
            "violations": violations(k),
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


def _referenced(s: Session, op: Mapping[str, Any]) -> int:
    page, k = s.page(op["pfn"]), s.k
    k.pte_chain_lock(page)
    count = _rmap(s).page_referenced(page)
    k.pte_chain_unlock(page)
    return count


def _rmap(s: Session) -> SeedRmap:
    assert s.rmap is not None
    return s.rmap


def _reclaim(s: Session, op: Mapping[str, Any]) -> dict[str, Any]:
    r = reclaim(_rmap(s), s.page(op["pfn"]))
    swap = None if r.swap_result is None else SWAP_NAMES[r.swap_result]
    return {"referenced": r.referenced, "try_to_unmap": swap, "disposition": r.disposition}


def _lock(s: Session, op: Mapping[str, Any], take: bool) -> None:
    lock = s.mm_named(op["mm"]).page_table_lock
    if take and lock.holder is not None:
        raise CallerPrecondition(f"{op['mm']}'s page_table_lock is already held by {lock.holder}")
    if not take and lock.holder != OTHER_CPU:
        raise CallerPrecondition(f"{op['mm']}'s page_table_lock is not held by {OTHER_CPU}")
    lock.holder = OTHER_CPU if take else None


_PAGE_FLAGS = {
    "swapcache": PG_swapcache,
    "reserved": PG_reserved,
    "locked": PG_locked,
    "referenced": PG_referenced,
    "dirty": PG_dirty,
}


def _set_page(s: Session, op: Mapping[str, Any]) -> None:
    page = s.page(op["pfn"])
    for key, bit in _PAGE_FLAGS.items():
        if key in op:
            set_flag(page, bit, op[key])
    if "index" in op:
        page.index = op["index"]
    if "mapping" in op:
        page.mapping = op["mapping"] or None


def _set_pte(s: Session, op: Mapping[str, Any]) -> None:
    pte = s.pte(op["pte"])
    if not pte.val.present:
        raise CallerPrecondition(f"{pte.name} is not present; only a present pte has young/dirty bits")
    bits = {key: op[key] for key in ("young", "dirty") if key in op}
    pte.val = type(pte.val)(**{**pte.val.__dict__, **bits})


def _mlock(s: Session, op: Mapping[str, Any]) -> None:
    mm = s.mm_named(op["mm"])
    vma = next((v for v in mm.vmas if v.vm_start <= op["address"] < v.vm_end), None)
    if vma is None:
        raise CallerPrecondition(f"no vma of {mm.name} contains address {op['address']}")
    vma.vm_flags = vma.vm_flags | VM_LOCKED if op.get("on", True) else vma.vm_flags & ~VM_LOCKED


def _vmas(s: Session, op: Mapping[str, Any]) -> None:
    desc = {"mms": [{"name": op["mm"], "vmas": op["vmas"]}]}
    try:
        fresh = build_world(desc).mms[op["mm"]]
    except WorldError as why:
        raise TraceError(str(why)) from None
    s.mm_named(op["mm"]).vmas = fresh.vmas


def _fail_alloc(s: Session, op: Mapping[str, Any]) -> None:
    cache = s.k.pte_chain_cache
    assert cache is not None
    cache.fail_next = op["n"]


_ACTIONS: dict[str, Callable[[Session, Mapping[str, Any]], Any]] = {
    "map": lambda s, op: map_pte(_rmap(s), s.pte(op["pte"]), s.page(op["pfn"]), dirty=op.get("dirty", False)),
    "zap": lambda s, op: zap_pte(_rmap(s), s.pte(op["pte"])),
    "referenced": _referenced,
    "reclaim": _reclaim,
    "page_add_rmap": lambda s, op: _rmap(s).page_add_rmap(s.page(op["pfn"]), s.pte(op["pte"])),
    "page_remove_rmap": lambda s, op: _rmap(s).page_remove_rmap(s.page(op["pfn"]), s.pte(op["pte"])),
    "try_to_unmap": lambda s, op: SWAP_NAMES[_rmap(s).try_to_unmap(s.page(op["pfn"]))],
    "try_to_unmap_one": lambda s, op: SWAP_NAMES[
        _rmap(s).try_to_unmap_one(s.page(op["pfn"]), s.pte(op["pte"]))
    ],
    "lock": lambda s, op: _lock(s, op, True),
    "unlock": lambda s, op: _lock(s, op, False),
    "set_page": _set_page,
    "set_pte": _set_pte,
    "mlock": _mlock,
    "vmas": _vmas,
    "fail_alloc": _fail_alloc,
}


def _check_op(op: Mapping[str, Any]) -> str:
    if not isinstance(op, dict):
        raise TraceError("an operation must be a JSON object")
    name = op.get("op")
    if name not in OPS:
        raise TraceError(f"unknown operation {name!r}; known: {', '.join(OPS)}")
    spec = OPS[name]
    for key, kind in [*spec.fields.items(), *spec.optional.items()]:
        if key not in op:
            if key in spec.fields:
                raise TraceError(f"{name} needs field {key!r}")
            continue
        value = op[key]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise TraceError(f"{name}: field {key!r} must be {kind.__name__}, not {value!r}")
    extra = set(op) - {"op", *spec.fields, *spec.optional}
    if extra:
        raise TraceError(f"{name}: unknown field(s) {', '.join(sorted(extra))}")
    return str(name)


def read_trace(lines: Iterable[str], source: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, operation) for each non-blank line; TraceError on bad JSON."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except json.JSONDecodeError as why:
            raise TraceError(f"{source}:{number}: not JSON ({why.msg})") from None
        yield number, op


def replay(
    lines: Iterable[str], source: str, variant: str, *, debug_rmap: bool = False
) -> Iterator[dict[str, Any]]:
    """Replay a trace; yields one record per operation (with its line)."""
    session = Session(variant, debug_rmap)
    for number, op in read_trace(lines, source):
        try:
            record = session.apply(op)
        except TraceError as why:
            raise TraceError(f"{source}:{number}: {why}") from None
        yield {"line": number, **record}
