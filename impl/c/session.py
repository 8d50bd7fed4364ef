"""Replaying a trace on the C oracle, record for record like the port.

``CSession`` is an ``impl.trace.Session`` whose kernel is a mirror of the
C's state, read back after every operation (impl/c/mirror.py).  So the
record, its violations and its spec check come from the port's own code;
only the running is the C's:

- ``world`` makes the world with the port's ``build_world`` (same input
  checks) and writes it into the C, which then runs the seed's
  ``pte_chain_init``.
- The seed paths (map, zap, referenced, reclaim and the raw seed
  functions) run in C: the callers are impl/c/callers.c, the rmap code is
  the seed itself.
- The environment operations (lock, unlock, set_page, set_pte, mlock,
  vmas, fail_alloc) are the trace's, not the kernel's: the port's own
  action runs on the mirror, and what it changed is written into the C.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from impl.c.mirror import HOLDERS, WorldInfo, mirror
from impl.c.native import Oracle, OracleError, code_site
from impl.kernel import SWAP_NAMES, Bug, Deadlock, Event, Kernel, KernelFault, Oops
from impl.refinement import Step
from impl.trace import Session, TraceError, replay_on, validated
from impl.trace_schema import (
    Map,
    Op,
    PageAddRmap,
    PageRemoveRmap,
    Reclaim,
    Referenced,
    TryToUnmap,
    TryToUnmapOne,
    World,
    Zap,
    as_dict,
)
from impl.variants import make_rmap
from impl.world import WorldError, allocations_let_through, build_world
from spec.ops import ACTIVATE, FREE, KEEP

# Every number a trace may hold fits the C as it is: the schema
# (impl/trace_schema.py) bounds pfns, addresses, swap entries and counts
# within what the shim's pte encoding (pfn << 12, entry << 8) and its int
# page->count hold, and page->index is an unsigned long both ways.
FAULTS: dict[str, type[KernelFault]] = {"BUG": Bug, "Oops": Oops, "deadlock": Deadlock}
DISPOSITIONS = (FREE, KEEP, ACTIVATE)  # callers.c's DISP_* codes

# callers.c's PRE_* codes, worded as impl/callers.py words them.
Words = Callable[[Kernel, Mapping[str, Any]], str]


def _holder(k: Kernel, op: Mapping[str, Any]) -> str:
    mm = k.ptes[op["pte"]].mm
    return f"{mm.name}'s page_table_lock is held by {mm.page_table_lock.holder}; the path would wait"


PRECONDITIONS: dict[int, Words] = {
    1: lambda k, op: f"{op['pte']} is already present",
    2: _holder,
    3: lambda k, op: f"{op['pte']} holds nothing to zap",
    4: lambda k, op: f"page {op['pfn']} is reserved: not on the LRU",
    5: lambda k, op: f"page {op['pfn']} has no backing store",
    6: lambda k, op: f"page {op['pfn']} is locked by someone else",
    7: lambda k, op: f"page {op['pfn']}'s pte_chain_lock is held",
    8: lambda k, op: "pagemap_lru_lock is held",
}

# The trace operations that run seed code, so run in C; the rest are the
# environment's.
SEED_PATHS: tuple[type[Op], ...] = (
    Map,
    Zap,
    Referenced,
    Reclaim,
    PageAddRmap,
    PageRemoveRmap,
    TryToUnmap,
    TryToUnmapOne,
)


def _command(op: Op, page: int | None, pte: int | None) -> str:
    """protocol.c's command for a seed path, its page and pte by the C's index."""
    match op:
        case Map():
            return f"map {pte} {page} {int(op.dirty)}"
        case Zap():
            return f"zap {pte}"
        case Referenced():
            return f"referenced {page}"
        case Reclaim():
            return f"reclaim {page}"
        case PageAddRmap():
            return f"add {page} {pte}"
        case PageRemoveRmap():
            return f"remove {page} {pte}"
        case TryToUnmap():
            return f"unmap {page}"
        case TryToUnmapOne():
            return f"unmap_one {page} {pte}"
    raise AssertionError(f"{type(op).__name__} is no seed path")


class CSession(Session):
    """One replay on the C oracle (variant name ``c``)."""

    def __init__(self, oracle: Oracle) -> None:
        super().__init__("c")
        self.oracle = oracle
        self.info: WorldInfo | None = None
        self._events: list[Event] = []
        self._deferred = False
        self._pages: dict[int, int] = {}
        self._ptes: dict[str, int] = {}
        # Session.apply lets only a started session run an operation; the
        # environment actions it runs for us never call the rmap.
        self.rmap = make_rmap("seed", Kernel())

    # -- the exchange with the C
    def _exchange(self, commands: list[str]) -> list[str]:
        """Run ``commands`` and a dump; refresh the mirror; answer the
        commands' answer lines."""
        assert self.info is not None
        if self.oracle.owner is not self:
            raise OracleError("another replay has reset this C oracle since; one replay at a time")
        lines = self.oracle.call("\n".join([*commands, "dump"]))
        answers, dump = lines[: len(commands)], lines[len(commands) :]
        if not dump or dump[-1] != "end":
            raise OracleError(f"the oracle answered no state ({' '.join(lines[-1:])})")
        for line in answers:
            if line.startswith("error"):
                raise OracleError(line[len("error ") :])
        self.k, events = mirror(self.info, dump[:-1])
        self._events += events
        self.k.events = self._events
        return answers

    def _load(self, world: Kernel) -> None:
        pages = [*world.mem_map.values(), *world.io_pages.values()]
        mms, ptes = list(world.mms.values()), list(world.ptes.values())
        mm_index = {mm.name: i for i, mm in enumerate(mms)}
        self.info = WorldInfo(
            [p.pfn for p in pages],
            [world.pfn_valid(p.pfn) for p in pages],
            list(mm_index),
            [(p.name, mm_index[p.mm.name], p.address) for p in ptes],
            dict(world.base_count),
            dict(world.swap_base),
        )
        self._pages = {p.pfn: i for i, p in enumerate(pages)}
        self._ptes = {p.name: i for i, p in enumerate(ptes)}
        self.oracle.owner = self
        commands = [f"reset {len(pages)} {len(mms)} {len(ptes)}"]
        for p in pages:
            mapping = self.info.mapping_id(p.mapping)
            valid = int(world.pfn_valid(p.pfn))
            commands.append(f"page {p.pfn} {valid} {p.count} {mapping} {_unsigned(p.index)} {p.flags}")
        commands += ["mm"] * len(mms)
        commands += [f"pte {mm_index[p.mm.name]} {p.address}" for p in ptes]
        commands += [f"swap {e} {c}" for e, c in world.swap_map.items()]
        self._events, self._events_seen = [], 0
        answer = self._exchange([*commands, *self._environment(world), "init"])[-1]
        if answer != "ok":  # the port's pte_chain_init raises here too
            raise OracleError(f"pte_chain_init: {answer}")

    def _environment(self, k: Kernel) -> list[str]:
        """Commands that give the C what the trace's environment actions
        may change: page flags and fields, ptes, locks, vmas, fail_alloc."""
        assert self.info is not None
        out = []
        for i, p in enumerate([*k.mem_map.values(), *k.io_pages.values()]):
            out.append(f"setpage {i} {p.flags} {self.info.mapping_id(p.mapping)} {_unsigned(p.index)}")
        for i, pte in enumerate(k.ptes.values()):
            v = pte.val
            swap = 0 if v.swap is None else v.swap
            out.append(
                f"setpte {i} {int(v.present)} {v.pfn} {int(v.young)} {int(v.dirty)} "
                f"{int(v.swap is not None)} {swap}"
            )
        for i, mm in enumerate(k.mms.values()):
            out.append(f"lock {i} {HOLDERS.index(mm.page_table_lock.holder)}")
            spans = " ".join(f"{v.vm_start} {v.vm_end} {v.vm_flags}" for v in mm.vmas)
            out.append(f"vmas {i} {len(mm.vmas)} {spans}".rstrip())
        cache = k.pte_chain_cache
        fail_next, after = (cache.fail_next, allocations_let_through(cache)) if cache else (0, 0)
        out.append(f"failnext {fail_next} {after}")
        return out

    # -- replaying
    def apply(self, op: Mapping[str, Any] | Op) -> dict[str, Any]:
        """Run one operation (validated here when given as plain data) on the C; its state record."""
        if not isinstance(op, Op):
            op = validated(op)
        name = str(as_dict(op)["op"])
        if isinstance(op, World):
            try:
                world = build_world(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            self._load(world)
            return self.record(name, None)
        if self.info is None:
            raise TraceError("the first operation must be 'world'")
        if isinstance(op, SEED_PATHS):
            return self._seed_path(name, op)
        self._deferred = True
        try:
            stub = super().apply(op)  # the port's environment action, on the mirror
        finally:
            self._deferred = False
        self._exchange(self._environment(self.k))
        return self.record(name, None, precondition=stub["precondition"])

    def record(
        self,
        op: str,
        result: Any,
        *,
        fault: KernelFault | None = None,
        precondition: str | None = None,
        step: Step | None = None,
    ) -> dict[str, Any]:
        if self._deferred:  # the mirror's record is not the C's; only its answer counts
            return {"precondition": precondition}
        return super().record(op, result, fault=fault, precondition=precondition, step=step)

    def _seed_path(self, name: str, op: Op) -> dict[str, Any]:
        given = as_dict(op)
        pfn, pte_name = getattr(op, "pfn", None), getattr(op, "pte", None)
        page = None if pfn is None else self._pages[self.page(pfn).pfn]
        pte = None if pte_name is None else self._ptes[self.pte(pte_name).name]
        before = self.k
        step = Step.before(before, name, given)
        kind, *answer = self._exchange([_command(op, page, pte)])[0].split(" ", 1)
        if kind == "pre":
            return self.record(name, None, precondition=PRECONDITIONS[int(answer[0])](before, given))
        if kind == "fault":
            return self.record(name, None, fault=self._fault(answer[0]), step=step)
        return self.record(name, _result(name, answer[0].split() if answer else []), step=step)

    def _fault(self, text: str) -> KernelFault:
        kind, func, file, line, pc, ours, addr, write, *why = text.split(" ", 8)
        if func == "-":  # a real SIGSEGV: ask the debug info where it was
            site = code_site(str(self.oracle.build.product), int(pc, 16)) if ours == "1" else ("?", "?")
            func, where = site[0], site[1]
            address = int(addr, 16)
            access = {"1": "writing", "0": "reading"}.get(write, "at")
            what = "NULL pointer dereference" if address < 4096 else "bad pointer dereference"
            return FAULTS[kind](f"{func}:{where}", f"{what} {access} address {address:#x} (SIGSEGV)")
        return FAULTS[kind](f"{func}:{file}:{line}", why[0] if why else "")


def _result(name: str, words: list[str]) -> Any:
    match name:
        case "map":
            return words[0]
        case "referenced":
            return int(words[0])
        case "reclaim":
            referenced, swap, disposition = (int(w) for w in words)
            return {
                "referenced": referenced,
                "try_to_unmap": None if swap < 0 else SWAP_NAMES.get(swap, str(swap)),
                "disposition": DISPOSITIONS[disposition],
            }
        case "try_to_unmap" | "try_to_unmap_one":
            return SWAP_NAMES.get(int(words[0]), words[0])
    return None


def _unsigned(value: int) -> int:
    """A C unsigned long's bits (the mirror reads them back signed)."""
    return value & (1 << 64) - 1


def replay_c(lines: Iterable[str | bytes], source: str, oracle: Oracle) -> Iterator[dict[str, Any]]:
    """impl.trace.replay on the C: the trace checked whole first, then one record per operation."""
    return replay_on(CSession(oracle), lines, source)
