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

from impl import trace
from impl.c.build import Build
from impl.c.mirror import HOLDERS, WorldInfo, mirror
from impl.c.native import Oracle, OracleError, code_site, open_oracle
from impl.kernel import SWAP_NAMES, Bug, Deadlock, Kernel, KernelFault, Oops, Pte
from impl.refinement import Step
from impl.trace import Session, TraceError
from impl.variants import make_rmap
from impl.world import WorldError, build_world
from spec.ops import ACTIVATE, FREE, KEEP

# Numbers must fit the C: 52 bits for what a pte encodes (pfn << 12, entry
# << 8), and so for every address and index; 31 for page->count (an int).
FAULTS: dict[str, type[KernelFault]] = {"BUG": Bug, "Oops": Oops, "deadlock": Deadlock}
DISPOSITIONS = (FREE, KEEP, ACTIVATE)  # callers.c's DISP_* codes

# callers.c's PRE_* codes, worded as impl/callers.py words them.
Words = Callable[[Kernel, Mapping[str, Any]], str]


def _pte_of(k: Kernel, op: Mapping[str, Any]) -> Pte:
    return k.ptes[op["pte"]]


PRECONDITIONS: dict[int, Words] = {
    1: lambda k, op: f"{op['pte']} is already present",
    2: lambda k, op: (
        f"{_pte_of(k, op).mm.name}'s page_table_lock is held by "
        f"{_pte_of(k, op).mm.page_table_lock.holder}; the path would wait"
    ),
    3: lambda k, op: f"{op['pte']} holds nothing to zap",
    4: lambda k, op: f"page {op['pfn']} is reserved: not on the LRU",
    5: lambda k, op: f"page {op['pfn']} has no backing store",
    6: lambda k, op: f"page {op['pfn']} is locked by someone else",
    7: lambda k, op: f"page {op['pfn']}'s pte_chain_lock is held",
    8: lambda k, op: "pagemap_lru_lock is held",
}

# The trace operations that run seed code, so run in C.
SEED_PATHS = frozenset(
    (
        "map",
        "zap",
        "referenced",
        "reclaim",
        "page_add_rmap",
        "page_remove_rmap",
        "try_to_unmap",
        "try_to_unmap_one",
    )
)


def _fit(value: int, what: str, bits: int = 52) -> int:
    if not 0 <= value < 1 << bits:
        raise TraceError(f"{what} {value} does not fit the C oracle (0 <= value < 2**{bits})")
    return value


class CSession(Session):
    """One replay on the C oracle (variant name ``c``)."""

    def __init__(self, oracle: Oracle) -> None:
        super().__init__("c")
        self.oracle = oracle
        self.info: WorldInfo | None = None
        self._flushes: list[tuple[str, str, int]] = []
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
        self.k, flushes = mirror(self.info, dump[:-1])
        self._flushes += flushes
        self.k.flushes = self._flushes
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
            flags = [_fit(p.pfn, "pfn"), int(world.pfn_valid(p.pfn)), _fit(p.count, "page count", 31)]
            mapping = self.info.mapping_id(p.mapping)
            commands.append(f"page {' '.join(map(str, flags))} {mapping} {_fit(p.index, 'index')} {p.flags}")
        commands += ["mm"] * len(mms)
        commands += [f"pte {mm_index[p.mm.name]} {_fit(p.address, 'address')}" for p in ptes]
        commands += [
            f"swap {_fit(e, 'swap entry')} {_fit(c, 'swap count')}" for e, c in world.swap_map.items()
        ]
        self._flushes, self._flushes_seen = [], 0
        answer = self._exchange([*commands, *self._environment(world), "init"])[-1]
        if answer != "ok":  # the port's pte_chain_init raises here too
            raise OracleError(f"pte_chain_init: {answer}")

    def _environment(self, k: Kernel) -> list[str]:
        """Commands that give the C what the trace's environment actions
        may change: page flags and fields, ptes, locks, vmas, fail_alloc."""
        assert self.info is not None
        out = []
        for i, p in enumerate([*k.mem_map.values(), *k.io_pages.values()]):
            out.append(f"setpage {i} {p.flags} {self.info.mapping_id(p.mapping)} {_fit(p.index, 'index')}")
        for i, pte in enumerate(k.ptes.values()):
            v = pte.val
            swap = 0 if v.swap is None else _fit(v.swap, "swap entry")
            out.append(
                f"setpte {i} {int(v.present)} {_fit(v.pfn, 'pfn')} {int(v.young)} {int(v.dirty)} "
                f"{int(v.swap is not None)} {swap}"
            )
        for i, mm in enumerate(k.mms.values()):
            out.append(f"lock {i} {HOLDERS.index(mm.page_table_lock.holder)}")
            spans = " ".join(
                f"{_fit(v.vm_start, 'vm_start')} {_fit(v.vm_end, 'vm_end')} {v.vm_flags}" for v in mm.vmas
            )
            out.append(f"vmas {i} {len(mm.vmas)} {spans}".rstrip())
        cache = k.pte_chain_cache
        out.append(f"failnext {min(max(cache.fail_next if cache else 0, 0), 1 << 30)}")
        return out

    # -- replaying
    def apply(self, op: Mapping[str, Any]) -> dict[str, Any]:
        """Run one operation on the C and return its state record."""
        name = trace._check_op(op)  # the trace format's own validation
        if name == "world":
            try:
                world = build_world(op)
            except WorldError as why:
                raise TraceError(str(why)) from None
            self._load(world)
            return self.record(name, None)
        if self.info is None:
            raise TraceError("the first operation must be 'world'")
        if name in SEED_PATHS:
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

    def _seed_path(self, name: str, op: Mapping[str, Any]) -> dict[str, Any]:
        page = self._pages[self.page(op["pfn"]).pfn] if "pfn" in op else None
        pte = self._ptes[self.pte(op["pte"]).name] if "pte" in op else None
        command = {
            "map": f"map {pte} {page} {int(op.get('dirty', False))}",
            "zap": f"zap {pte}",
            "referenced": f"referenced {page}",
            "reclaim": f"reclaim {page}",
            "page_add_rmap": f"add {page} {pte}",
            "page_remove_rmap": f"remove {page} {pte}",
            "try_to_unmap": f"unmap {page}",
            "try_to_unmap_one": f"unmap_one {page} {pte}",
        }[name]
        before = self.k
        step = Step.before(before, name, op)
        kind, *answer = self._exchange([command])[0].split(" ", 1)
        if kind == "pre":
            return self.record(name, None, precondition=PRECONDITIONS[int(answer[0])](before, op))
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


def replay_c(lines: Iterable[str], source: str, oracle: Oracle) -> Iterator[dict[str, Any]]:
    """impl.trace.replay on the C: one record per operation (with its line)."""
    session = CSession(oracle)
    for number, op in trace.read_trace(lines, source):
        try:
            record = session.apply(op)
        except TraceError as why:
            raise TraceError(f"{source}:{number}: {why}") from None
        yield {"line": number, **record}


def open_session(build: Build) -> CSession:
    return CSession(open_oracle(build))
