"""Interleavings of concurrent kernel paths over one small modelled kernel.

Each path (fault, zap, reclaim) is impl/'s own caller (``impl.callers``)
running unchanged in a thread of its own; the threads never run at the same
time.  ``ConcurrentKernel`` makes every lock *acquisition* (spin_lock,
spin_trylock, pte_chain_lock) a scheduling point: the path stops just before
it, and the explorer decides which path moves next.  A step of a path is
therefore everything it does from one acquisition up to the next one (or to
its end).  Why that granularity loses no behaviour is argued in
docs_src/locking.md (Lipton's reduction: acquisitions move right, releases
left, lock-protected accesses both ways).

A blocking acquisition is only resumed when its lock is free (spin_lock
spins); a trylock always may run and may fail.  A state where some path is
unfinished and none can move is a deadlock.

Exploration is breadth first over all schedules, with states deduplicated
by a fingerprint of the whole kernel and of every suspended path: its
pending acquisition and its Python frames (code position and locals), so
two schedules merge only when nothing that follows can tell them apart.
A state is rebuilt by replaying its schedule from the world (threads cannot
be copied); the world is tiny, so this costs little.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, fields
from types import FrameType
from typing import Any, Literal

from impl.callers import ReclaimResult, map_pte, reclaim, zap_pte
from impl.invariants import violations
from impl.kernel import (
    MM,
    SWAP_AGAIN,
    VMA,
    Kernel,
    Page,
    PageLocked,
    Pte,
    PteChain,
    PteVal,
    SpinLock,
    _Misread,
    _Null,
    ptep_test_and_clear_young,
)
from impl.rmap_seed import SeedRmap
from impl.variants import variant_class
from impl.world import build_world
from spec.ops import ACTIVATE

# A lock as the explorer names it: ("ptl", mm), ("lru",) or ("chain", pfn).
LockKey = tuple[str | int, ...]


def lock_label(key: LockKey) -> str:
    if key[0] == "ptl":
        return f"{key[1]}.page_table_lock"
    if key[0] == "chain":
        return f"page {key[1]} pte_chain_lock"
    return "pagemap_lru_lock"


# ---------------------------------------------------------------- the kernel


@dataclass(frozen=True)
class Acquire:
    """A lock acquisition a path is about to make (or the retry wait)."""

    primitive: str  # spin_lock, spin_trylock, pte_chain_lock, await
    key: LockKey  # () for the retry wait
    blocking: bool  # waits while the lock is held
    where: str  # the kernel function acquiring, e.g. "try_to_unmap_one(p1)"

    def describe(self) -> str:
        if self.primitive == "await":
            return "waits for the other paths to finish, then retries reclaim"
        return f"{self.primitive}({lock_label(self.key)}) in {self.where}"


RETRY_WAIT = Acquire("await", (), True, "reclaim")


@dataclass(eq=False)
class ConcurrentKernel(Kernel):
    """The modelled kernel with lock acquisitions as scheduling points.

    ``chain_holders`` names the CPU holding each page's pte_chain_lock (the
    kernel's bit lock has no owner field; the model needs one to say who
    waits for whom).  ``trylock_blocks`` is the model variant in which
    try_to_unmap_one's spin_trylock is a blocking spin_lock.
    """

    chain_holders: dict[int, str] = field(default_factory=dict)
    trylock_blocks: bool = False
    on_acquire: Callable[[Acquire], None] | None = None
    last_trylock: bool | None = None  # what the step's spin_trylock answered

    @classmethod
    def adopt(cls, k: Kernel, *, trylock_blocks: bool) -> ConcurrentKernel:
        """The same machine as ``k`` (a fresh world), with scheduling points."""
        return cls(**{f.name: getattr(k, f.name) for f in fields(Kernel)}, trylock_blocks=trylock_blocks)

    def lock_key(self, lock: SpinLock) -> LockKey:
        if lock is self.pagemap_lru_lock:
            return ("lru",)
        return ("ptl", next(mm.name for mm in self.mms.values() if mm.page_table_lock is lock))

    def holder(self, key: LockKey) -> str | None:
        if key[0] == "ptl":
            return self.mms[str(key[1])].page_table_lock.holder
        if key[0] == "chain":
            return self.chain_holders.get(int(key[1]))
        return self.pagemap_lru_lock.holder

    def held(self) -> dict[LockKey, str]:
        """Every lock held now, with its holder."""
        keys: list[LockKey] = [("lru",), *(("ptl", m) for m in self.mms)]
        keys += [("chain", pfn) for pfn in self.chain_holders]
        return {key: who for key in keys if (who := self.holder(key)) is not None}

    def _acquiring(self, primitive: str, key: LockKey, blocking: bool) -> None:
        if self.on_acquire is None:
            return
        caller = sys._getframe(2)
        where = caller.f_code.co_name
        ptep = caller.f_locals.get("ptep")
        if isinstance(ptep, Pte):
            where += f"({ptep.name})"
        self.on_acquire(Acquire(primitive, key, blocking, where))

    def spin_lock(self, lock: SpinLock) -> None:
        self._acquiring("spin_lock", self.lock_key(lock), True)
        super().spin_lock(lock)

    def spin_trylock(self, lock: SpinLock) -> bool:
        # The blocking variant stands for editing one line of the seed; that
        # holds only while try_to_unmap_one is spin_trylock's sole caller.
        caller = sys._getframe(1).f_code.co_name
        if caller != "try_to_unmap_one":
            raise AssertionError(f"spin_trylock called from {caller}, not try_to_unmap_one")
        if self.trylock_blocks:
            self._acquiring("spin_lock", self.lock_key(lock), True)
            super().spin_lock(lock)
            self.last_trylock = True
            return True
        self._acquiring("spin_trylock", self.lock_key(lock), False)
        self.last_trylock = super().spin_trylock(lock)
        return self.last_trylock

    def pte_chain_lock(self, page: Page) -> None:
        self._acquiring("pte_chain_lock", ("chain", page.pfn), True)
        super().pte_chain_lock(page)
        self.chain_holders[page.pfn] = self.cpu

    def pte_chain_unlock(self, page: Page) -> None:
        super().pte_chain_unlock(page)
        self.chain_holders.pop(page.pfn, None)


class LockingRuleBroken(Exception):
    """A seed function ran without a lock its comment says its caller holds."""


@functools.cache
def observed(cls: type[SeedRmap]) -> type[SeedRmap]:
    """The variant ``cls``, checking the seed's locking comments and
    reporting each try_to_unmap_one answer.

    Nothing of the rmap logic changes: each override checks that the running
    CPU holds what the seed's comment says the caller holds, then calls the
    variant's own function.
    """

    class Observed(cls):  # type: ignore[valid-type,misc]
        on_unmap_answer: Callable[[Pte, int], None] | None = None

        def _caller_holds(self, key: LockKey, function: str, line: int) -> None:
            k = self.k
            assert isinstance(k, ConcurrentKernel)
            if k.holder(key) != k.cpu:
                raise LockingRuleBroken(
                    f"{function} runs on {k.cpu} without {lock_label(key)} [rmap.c:{line}]"
                )

        def page_referenced(self, page: Page) -> int:
            self._caller_holds(("chain", page.pfn), "page_referenced", 58)
            return super().page_referenced(page)

        def page_add_rmap(self, page: Page, ptep: Pte) -> int | None:
            self._caller_holds(("ptl", ptep.mm.name), "page_add_rmap", 84)
            return super().page_add_rmap(page, ptep)

        def page_remove_rmap(self, page: Page, ptep: Pte | _Null) -> None:
            if isinstance(ptep, Pte):
                self._caller_holds(("ptl", ptep.mm.name), "page_remove_rmap", 146)
            return super().page_remove_rmap(page, ptep)

        def try_to_unmap(self, page: Page) -> int:
            self._caller_holds(("lru",), "try_to_unmap", 263)
            return super().try_to_unmap(page)

        def try_to_unmap_one(self, page: Page, ptep: Pte) -> int:
            answer = super().try_to_unmap_one(page, ptep)
            if self.on_unmap_answer is not None:
                self.on_unmap_answer(ptep, answer)
            return answer

        def pte_chain_free(
            self, pte_chain: PteChain | _Null, prev_pte_chain: PteChain | _Null, page: Page | None
        ) -> None:
            if page:
                self._caller_holds(("chain", page.pfn), "pte_chain_free", 333)
            super().pte_chain_free(pte_chain, prev_pte_chain, page)

    Observed.__name__ = Observed.__qualname__ = f"Observed{cls.__name__}"
    return Observed


# ---------------------------------------------------------------- worlds


PathKind = Literal["fault", "zap", "reclaim"]


@dataclass(frozen=True)
class PathSpec:
    """One concurrent kernel path: map ``pte`` to page ``pfn`` (fault),
    zap ``pte`` (munmap/exit) or reclaim page ``pfn`` (shrink_cache, retried
    once after the others finish when it answers SWAP_AGAIN)."""

    kind: PathKind
    pte: str = ""
    pfn: int = 0

    def label(self) -> str:
        if self.kind == "fault":
            return f"fault {self.pte}->page {self.pfn}"
        if self.kind == "zap":
            return f"zap {self.pte}"
        return f"reclaim page {self.pfn}"


@dataclass(frozen=True)
class World:
    """The starting kernel (a trace ``world`` description, then sequential
    maps of ``premapped`` with their young bits cleared so that reclaim
    finds them unreferenced) and the paths that then run concurrently."""

    name: str
    desc: Mapping[str, Any] = field(hash=False, compare=False)
    premapped: tuple[tuple[str, int], ...]
    paths: tuple[PathSpec, ...]

    def sizes(self) -> dict[str, int]:
        return {
            "paths": len(self.paths),
            "mms": len(self.desc["mms"]),
            "ptes": len(self.desc["ptes"]),
            "pages": len(self.desc["pages"]),
        }


PAGE_PFN = 1
SWAP_ENTRY = 7
MM_NAMES = "ABCDEFGH"


def make_world(n_mms: int, n_ptes: int, n_faults: int, n_zaps: int, n_reclaims: int = 1) -> World:
    """One page (in the swap cache, so unmapping leaves swap ptes), ``n_mms``
    mms with one vma each, ptes p0.. spread over the mms in turn.  The last
    ``n_faults`` ptes are mapped by fault paths, the others are mapped
    before the paths start and the last ``n_zaps`` of those are zapped."""
    if n_faults + n_zaps > n_ptes:
        raise ValueError("every fault and zap needs a pte of its own")
    ptes = [f"p{i}" for i in range(n_ptes)]
    premapped = ptes[: n_ptes - n_faults]
    desc = {
        "pages": [{"pfn": PAGE_PFN, "count": 1, "mapping": "file", "swapcache": True, "index": SWAP_ENTRY}],
        "mms": [{"name": MM_NAMES[m], "vmas": [{"start": 0, "end": 0x10000}]} for m in range(n_mms)],
        "ptes": [
            {"name": p, "mm": MM_NAMES[i % n_mms], "address": (i + 1) * 0x1000} for i, p in enumerate(ptes)
        ],
        "swap": {str(SWAP_ENTRY): 1},
    }
    paths = [PathSpec("fault", p, PAGE_PFN) for p in ptes[n_ptes - n_faults :]]
    paths += [PathSpec("zap", p) for p in premapped[len(premapped) - n_zaps :]]
    paths += [PathSpec("reclaim", pfn=PAGE_PFN)] * n_reclaims
    kinds = f"{n_faults} fault, {n_zaps} zap, {n_reclaims} reclaim"
    name = f"{len(paths)} paths ({kinds}), {n_mms} mms, {n_ptes} ptes"
    return World(name, desc, tuple((p, PAGE_PFN) for p in premapped), tuple(paths))


# ---------------------------------------------------------------- executions


class _Abandon(BaseException):
    """Unwinds a suspended path when its execution is dropped."""


Status = Literal["ready", "finished", "crashed"]
Frame = tuple[str, int, dict[str, Any]]


@dataclass(eq=False)
class PathRun:
    index: int
    spec: PathSpec
    cpu: str
    status: Status = "ready"
    pending: Acquire | None = None
    frames: tuple[Frame, ...] = ()
    fault: str | None = None
    attempt: int = 1
    again: frozenset[str] = frozenset()  # ptes answered SWAP_AGAIN on the first attempt
    abort: bool = False
    go: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    @property
    def done(self) -> bool:
        return self.status != "ready"


@dataclass(frozen=True)
class StepRecord:
    """One step of an interleaving, for people: who moved, what it acquired,
    how that went, and every lock held afterwards (by path label)."""

    path: str
    cpu: str
    acquire: Acquire
    result: str
    holds: dict[str, list[str]]

    def line(self, number: int) -> str:
        held = (
            "; ".join(f"{who} holds {', '.join(locks)}" for who, locks in self.holds.items())
            or "no lock held"
        )
        return f"{number}. {self.path} [{self.cpu}]: {self.acquire.describe()} -> {self.result} | {held}"


@dataclass(frozen=True)
class Wait:
    path: str
    cpu: str
    acquire: Acquire
    holder: str  # the path label holding the lock

    @property
    def lock(self) -> str:
        return lock_label(self.acquire.key)

    def line(self) -> str:
        return f"{self.path} [{self.cpu}] spins in {self.acquire.where} on {self.lock}, held by {self.holder}"


@dataclass
class StepEvents:
    """What the properties watch for during one step."""

    trylock_failed: bool = False
    averted_deadlock: bool = False  # the trylock's lock holder waits for a lock this path holds
    retried: bool = False  # a reclaim began its retry
    reasked: int = 0  # retry answers for a pte that answered SWAP_AGAIN before
    not_transient: list[str] = field(default_factory=list)
    crash: str | None = None


class Execution:
    """One interleaving in progress: a fresh world and one thread per path."""

    def __init__(self, world: World, variant: str, *, blocking: bool) -> None:
        k = ConcurrentKernel.adopt(build_world(world.desc), trylock_blocks=blocking)
        rmap = observed(variant_class(variant))(k)
        rmap.pte_chain_init()
        k.cpu = "setup"
        for pte, pfn in world.premapped:
            if map_pte(rmap, k.ptes[pte], k.pfn_to_page(pfn)) != "mapped":
                raise ValueError(f"world {world.name}: cannot map {pte}")
            ptep_test_and_clear_young(k.ptes[pte])
        self.k, self.rmap = k, rmap
        k.on_acquire = self._point
        rmap.on_unmap_answer = self._answered  # type: ignore[attr-defined]
        self.back = threading.Semaphore(0)
        self.events = StepEvents()
        self.paths = [PathRun(i, spec, f"cpu{i}") for i, spec in enumerate(world.paths)]
        self.current = self.paths[0]
        for path in self.paths:
            thread = threading.Thread(target=self._run, args=(path,), daemon=True)
            thread.start()
            self._resume(path)
            if path.status == "crashed" or path.pending is None:
                self.close()
                raise ValueError(f"world {world.name}: {path.spec.label()} cannot start: {path.fault}")

    # -- inside the path threads
    def _run(self, path: PathRun) -> None:
        path.go.acquire()
        try:
            if not path.abort:
                self._program(path)
                path.status = "finished"
        except _Abandon:
            pass
        except Exception as why:  # a kernel fault, or impl/ failing in any other way
            path.status, path.fault = "crashed", f"{type(why).__name__}: {why}"
            self.events.crash = f"{path.spec.label()}: {path.fault}"
        finally:
            path.pending, path.frames = None, ()
            self.back.release()

    def _program(self, path: PathRun) -> None:
        k, spec = self.k, path.spec
        if spec.kind == "fault":
            map_pte(self.rmap, k.ptes[spec.pte], k.pfn_to_page(spec.pfn))
        elif spec.kind == "zap":
            zap_pte(self.rmap, k.ptes[spec.pte])
        else:
            first = reclaim(self.rmap, k.pfn_to_page(spec.pfn))
            if first.swap_result == SWAP_AGAIN:
                # shrink_cache leaves the page on the inactive list; it is
                # looked at again later, here once the others are done.
                self._point(RETRY_WAIT)
                path.attempt = 2
                self.events.retried = True
                # A referenced page is activated and comes back later; its
                # young bits are cleared by then, so a second look decides.
                for _ in range(2):
                    if reclaim(self.rmap, k.pfn_to_page(spec.pfn)).disposition != ACTIVATE:
                        break

    def _point(self, acquire: Acquire) -> None:
        """Stop before ``acquire`` until the explorer picks this path."""
        path = self.current
        path.pending = acquire
        path.frames = _capture(sys._getframe(1))
        self.back.release()
        path.go.acquire()
        if path.abort:
            raise _Abandon
        path.pending = None

    def _answered(self, ptep: Pte, answer: int) -> None:
        path = self.current
        if path.attempt == 1:
            if answer == SWAP_AGAIN:
                path.again |= {ptep.name}
            return
        if ptep.name in path.again:
            self.events.reasked += 1
        if answer == SWAP_AGAIN:
            self.events.not_transient.append(
                f"{path.spec.label()}: retried try_to_unmap_one({ptep.name}) answered SWAP_AGAIN again"
            )

    # -- the explorer's side
    def _resume(self, path: PathRun) -> None:
        self.current = path
        self.k.cpu = path.cpu
        path.go.release()
        self.back.acquire()

    def enabled(self) -> list[int]:
        return [p.index for p in self.paths if not p.done and self._can_move(p)]

    def _can_move(self, path: PathRun) -> bool:
        acquire = path.pending
        assert acquire is not None
        if acquire is RETRY_WAIT:
            return all(p.done or p.pending is RETRY_WAIT for p in self.paths if p is not path)
        return not acquire.blocking or self.k.holder(acquire.key) is None

    def step(self, index: int) -> StepRecord:
        path = self.paths[index]
        acquire = path.pending
        assert acquire is not None and self._can_move(path), "the explorer picked a path that cannot move"
        self.events = StepEvents()
        self.k.last_trylock = None
        self._resume(path)
        result = "acquired, then the path finished" if path.done else "acquired"
        if acquire.primitive == "spin_trylock" and not self.k.last_trylock:
            result = "failed: SWAP_AGAIN"
            self._trylock_failed(path, acquire.key)
        elif acquire is RETRY_WAIT:
            result = "retrying"
        if path.status == "crashed":
            result = f"crashed: {path.fault}"
        return StepRecord(path.spec.label(), path.cpu, acquire, result, self.holds())

    def _trylock_failed(self, path: PathRun, key: LockKey) -> None:
        self.events.trylock_failed = True
        holder = self._path_of(self.k.holder(key))
        wanted = holder.pending if holder is not None else None
        if wanted is not None and wanted.key and self.k.holder(wanted.key) == path.cpu:
            self.events.averted_deadlock = True

    def _path_of(self, cpu: str | None) -> PathRun | None:
        return next((p for p in self.paths if p.cpu == cpu), None)

    def holds(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, cpu in sorted(self.k.held().items(), key=lambda kv: lock_label(kv[0])):
            who = self._path_of(cpu)
            out.setdefault(who.spec.label() if who else cpu, []).append(lock_label(key))
        return out

    def waits(self) -> list[Wait]:
        """For a stuck state: what each unfinished path waits for."""
        out = []
        for p in self.paths:
            if p.done or p.pending is None or p.pending is RETRY_WAIT:
                continue
            holder = self._path_of(self.k.holder(p.pending.key))
            name = holder.spec.label() if holder else str(self.k.holder(p.pending.key))
            out.append(Wait(p.spec.label(), p.cpu, p.pending, name))
        return out

    def deadlocked(self) -> bool:
        return any(not p.done for p in self.paths) and not self.enabled()

    def quiescent(self) -> bool:
        """No lock of any kind is held (the page lock included)."""
        return not self.k.held() and not any(PageLocked(p) for p in self.k.mem_map.values())

    def leaks(self) -> list[str]:
        """Every lock held, named with its holder (for a state that should hold none)."""
        out = [f"{lock_label(key)} (by {cpu})" for key, cpu in self.k.held().items()]
        return out + [f"page {p.pfn} lock" for p in self.k.mem_map.values() if PageLocked(p)]

    def close(self) -> None:
        for path in self.paths:
            if not path.done and path.pending is not None:
                path.abort = True
                self._resume(path)

    def fingerprint(self) -> Hashable:
        return _Fingerprint(self).value()


def _capture(frame: FrameType | None) -> tuple[Frame, ...]:
    """The suspended path's frames, innermost first, up to its program."""
    out = []
    while frame is not None and frame.f_code is not _RUN_CODE:
        if frame.f_code not in _HOOK_CODES:
            out.append((frame.f_code.co_qualname, frame.f_lineno, dict(frame.f_locals)))
        frame = frame.f_back
    return tuple(out)


_RUN_CODE = Execution._run.__code__
_HOOK_CODES = {
    Execution._point.__code__,
    ConcurrentKernel._acquiring.__code__,
    ConcurrentKernel.spin_lock.__code__,
    ConcurrentKernel.spin_trylock.__code__,
    ConcurrentKernel.pte_chain_lock.__code__,
}


# Immutable values that stand for themselves in a fingerprint.
_VALUES = (bool, int, str, PteVal, ReclaimResult, PathSpec, Acquire, frozenset)


class _Fingerprint:
    """A canonical, hashable picture of an execution's whole state.

    pte_chain nodes are numbered in a fixed walk (pages by pfn along their
    chains, then the slab's live list, then path locals), so two states get
    the same picture exactly when they are the same up to node identity.
    A local of an unknown type is an error, never silently ignored.
    """

    def __init__(self, ex: Execution) -> None:
        self.ex = ex
        self.numbers: dict[int, int] = {}
        self.nodes: list[PteChain] = []

    def node(self, n: PteChain) -> int:
        if id(n) not in self.numbers:
            self.numbers[id(n)] = len(self.nodes)
            self.nodes.append(n)
        return self.numbers[id(n)]

    def canon(self, v: Any) -> Hashable:
        if v is None or isinstance(v, _VALUES):
            return v
        if isinstance(v, _Null):
            return "NULL"
        if isinstance(v, PteChain):
            return ("node", self.node(v))
        if isinstance(v, Pte):
            return ("pte", v.name)
        if isinstance(v, Page):
            return ("page", v.pfn)
        if isinstance(v, MM):
            return ("mm", v.name)
        if isinstance(v, VMA):
            return ("vma", v.vm_start, v.vm_end, v.vm_flags)
        if isinstance(v, _Misread):
            return ("misread", self.canon(v.target))
        if isinstance(v, Kernel | SeedRmap | Execution):
            return type(v).__name__
        if isinstance(v, PathRun):
            return ("path", v.index)
        if isinstance(v, type):
            return v.__qualname__
        if isinstance(v, list | tuple):
            return tuple(self.canon(x) for x in v)
        raise TypeError(f"cannot fingerprint a value of type {type(v).__name__}")

    def value(self) -> Hashable:
        k = self.ex.k
        pages = [*k.mem_map.values(), *k.io_pages.values()]
        for page in sorted(pages, key=lambda p: p.pfn):
            seen: set[int] = set()
            pc = page.pte.word
            while isinstance(pc, PteChain) and id(pc) not in seen:
                seen.add(id(pc))
                self.node(pc)
                pc = pc.next
        live = k.pte_chain_cache.live if k.pte_chain_cache else []
        kernel = (
            tuple((p.pfn, p.count, p.flags, p.mapping, p.index, self.canon(p.pte.word)) for p in pages),
            tuple((name, pte.val) for name, pte in sorted(k.ptes.items())),
            tuple(
                (mm.name, mm.rss, mm.page_table_lock.holder, tuple(self.canon(v) for v in mm.vmas))
                for mm in k.mms.values()
            ),
            tuple(sorted(k.swap_map.items())),
            k.page_state.nr_reverse_maps,
            tuple(self.canon(o) for o in live),
            k.pte_chain_cache.fail_next if k.pte_chain_cache else 0,
            k.pagemap_lru_lock.holder,
            tuple(sorted(k.chain_holders.items())),
        )
        # PathRun.again is left out: it only counts re-asked mappings for the
        # non-vacuity check; a SWAP_AGAIN in a retry is seen on the step itself.
        paths = tuple(
            (
                p.status,
                p.pending,
                p.attempt,
                tuple(
                    (name, line, tuple(sorted((var, self.canon(val)) for var, val in local.items())))
                    for name, line, local in p.frames
                ),
            )
            for p in self.ex.paths
        )
        # Every numbered node, with what it points at (this may number more).
        table = []
        i = 0
        while i < len(self.nodes):
            n = self.nodes[i]
            table.append((self.canon(n.next), self.canon(n.ptep), any(o is n for o in live)))
            i += 1
        return (kernel, paths, tuple(table))


def is_sequential(schedule: tuple[int, ...]) -> bool:
    """Each path runs in one stretch (taken at a lock-free state: every
    stretch but the last ran its path to the end)."""
    stretches = [i for n, i in enumerate(schedule) if n == 0 or schedule[n - 1] != i]
    return len(stretches) == len(set(stretches))


def sequential_trace(world: World, schedule: tuple[int, ...]) -> list[dict[str, Any]]:
    """The trace operations (impl.trace.OPS) that replay a sequential
    ``schedule``: the world, its premapped ptes made old, then each path
    whole, in the order the schedule runs them."""
    ops: list[dict[str, Any]] = [{"op": "world", **world.desc}]
    for pte, pfn in world.premapped:
        ops += [{"op": "map", "pte": pte, "pfn": pfn}, {"op": "set_pte", "pte": pte, "young": False}]
    for n, index in enumerate(schedule):
        if n and schedule[n - 1] == index:
            continue
        spec = world.paths[index]
        if spec.kind == "fault":
            ops.append({"op": "map", "pte": spec.pte, "pfn": spec.pfn})
        elif spec.kind == "zap":
            ops.append({"op": "zap", "pte": spec.pte})
        else:
            ops.append({"op": "reclaim", "pfn": spec.pfn})
    return ops


def replay(world: World, variant: str, schedule: tuple[int, ...], *, blocking: bool) -> Execution:
    """A fresh execution advanced through ``schedule`` (path indices)."""
    ex = Execution(world, variant, blocking=blocking)
    for index in schedule:
        ex.step(index)
    return ex


def interleaving(
    world: World, variant: str, schedule: tuple[int, ...], *, blocking: bool
) -> tuple[list[StepRecord], list[Wait]]:
    """The steps of ``schedule`` replayed on impl/, and what is then waited for."""
    ex = Execution(world, variant, blocking=blocking)
    try:
        steps = [ex.step(index) for index in schedule]
        return steps, ex.waits() if ex.deadlocked() else []
    finally:
        ex.close()


# ---------------------------------------------------------------- exploration


@dataclass
class Exploration:
    """What exhaustive exploration of one world, variant and mode found.

    Lists of schedules keep the first (shortest, by breadth-first order)
    witness of each kind.
    """

    world: World
    variant: str
    blocking: bool
    complete: bool = False
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    quiescent_checked: int = 0
    final_states: int = 0
    trylock_failures: int = 0
    averted_deadlocks: int = 0
    retries: int = 0
    reasked: int = 0
    deadlocks: list[tuple[int, ...]] = field(default_factory=list)
    finals: set[Hashable] = field(default_factory=set)  # fingerprints of the states where all paths are done
    violations: list[tuple[tuple[int, ...], dict[str, list[str]]]] = field(default_factory=list)
    # The first violation reached by running whole paths one after another,
    # which a sequential trace (impl.trace) can replay.
    sequential_violation: tuple[tuple[int, ...], dict[str, list[str]]] | None = None
    violated: set[str] = field(default_factory=set)
    not_transient: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    crashes: list[tuple[tuple[int, ...], str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "world": self.world.name,
            **self.world.sizes(),
            "variant": self.variant,
            "lock": "spin_lock" if self.blocking else "spin_trylock",
            "complete": self.complete,
            "states": self.states,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "seconds": round(self.seconds, 3),
            "quiescent_states_checked": self.quiescent_checked,
            "final_states": self.final_states,
            "trylock_failures": self.trylock_failures,
            "averted_deadlocks": self.averted_deadlocks,
            "retries": self.retries,
            "deadlock_states": len(self.deadlocks),
        }


def explore(world: World, variant: str, *, blocking: bool, budget: float, dedup: bool = True) -> Exploration:
    """Every interleaving of ``world``'s paths, breadth first, deduplicated
    (or, with ``dedup`` off, the whole tree of schedules: what the dedup
    saves, and a check that merging states loses nothing).

    Stops (incomplete) when ``budget`` seconds have passed.
    """
    start = time.perf_counter()
    out = Exploration(world, variant, blocking)
    root = Execution(world, variant, blocking=blocking)
    seen = {root.fingerprint()}
    _visit(out, root, ())
    root.close()
    queue: deque[tuple[int, ...]] = deque([()])
    while queue:
        if time.perf_counter() - start > budget:
            out.seconds = time.perf_counter() - start
            return out
        schedule = queue.popleft()
        ex = replay(world, variant, schedule, blocking=blocking)
        enabled = ex.enabled()
        if not enabled:
            ex.close()
        for n, index in enumerate(enabled):
            child = ex if n == len(enabled) - 1 else replay(world, variant, schedule, blocking=blocking)
            try:
                child.step(index)
                _absorb(out, child.events, (*schedule, index))
                fp = child.fingerprint() if dedup else (*schedule, index)
                if fp not in seen:
                    seen.add(fp)
                    _visit(out, child, (*schedule, index))
                    queue.append((*schedule, index))
            finally:
                child.close()
    out.complete = True
    out.seconds = time.perf_counter() - start
    return out


def _absorb(out: Exploration, events: StepEvents, schedule: tuple[int, ...]) -> None:
    out.transitions += 1
    out.trylock_failures += events.trylock_failed
    out.averted_deadlocks += events.averted_deadlock
    out.retries += events.retried
    out.reasked += events.reasked
    if events.not_transient and not out.not_transient:
        out.not_transient.append((schedule, events.not_transient[0]))
    if events.crash and len(out.crashes) < 10:
        out.crashes.append((schedule, events.crash))


def _visit(out: Exploration, ex: Execution, schedule: tuple[int, ...]) -> None:
    out.states += 1
    out.max_depth = max(out.max_depth, len(schedule))
    if ex.deadlocked():
        out.deadlocks.append(schedule)
    done = all(p.done for p in ex.paths)
    if done:
        out.final_states += 1
        out.finals.add(ex.fingerprint())
    if ex.quiescent() or done:
        out.quiescent_checked += 1
        bad = violations(ex.k)
        if done and not ex.quiescent():
            # rep_locks_released for every CPU: each path is between kernel paths now.
            leaked = [f"{what} still held after every path finished" for what in ex.leaks()]
            bad["rep_locks_released"] = [*bad.get("rep_locks_released", []), *leaked]
        if bad and not set(bad) <= out.violated:
            out.violated |= set(bad)
            out.violations.append((schedule, bad))
        if bad and out.sequential_violation is None and is_sequential(schedule):
            out.sequential_violation = (schedule, bad)
