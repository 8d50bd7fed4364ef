"""One interleaving in progress: paths started on a kernel, one thread per path.

Each path (fault, zap, reclaim) is impl/'s own caller (``impl.callers``)
running unchanged in a thread of its own; the threads never run at the
same time.  A step of a path is everything it does from one lock
acquisition up to the next one (or to its end).  A state's fingerprint
covers the whole kernel and every suspended path (its pending acquisition
and its Python frames), so two schedules merge only when nothing that
follows can tell them apart.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
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
    _Misread,
    _Null,
)
from impl.rmap_seed import SeedRmap
from impl.variants import variant_class
from proofs.interleave.locks import RETRY_WAIT, Acquire, ConcurrentKernel, LockKey, lock_label, observed
from proofs.interleave.world import PathSpec
from spec.ops import ACTIVATE

# ---------------------------------------------------------------- executions


class Signal:
    """A one-place handoff between two threads: ``give`` wakes the one
    waiting in ``take``.  A plain lock, held while nothing is given (any
    thread may release a Lock): the control passes thousands of times per
    exploration, and threading.Semaphore's Python-level condition costs
    several times as much per pass."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def give(self) -> None:
        self._lock.release()

    def take(self) -> None:
        self._lock.acquire()


class _Threads:
    """Threads kept for the next path once theirs has ended: an exploration
    starts a path thousands of times, and starting a thread each time was
    most of its cost."""

    def __init__(self) -> None:
        self._forget()
        # A forked child (the runner forks each obligation's process from a
        # worker that explored) has none of the parent's threads.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []  # each kept thread's inbox
        self._guard = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        with self._guard:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(target=self._serve, args=(inbox,), daemon=True).start()
        inbox.put(job)

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            with self._guard:
                self._idle.append(inbox)


_THREADS = _Threads()


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
    error: Exception | None = None  # what stopped a crashed path
    attempt: int = 1
    again: frozenset[str] = frozenset()  # ptes answered SWAP_AGAIN on the first attempt
    abort: bool = False
    go: Signal = field(default_factory=Signal)

    @property
    def done(self) -> bool:
        return self.status != "ready"


@dataclass(frozen=True)
class StepRecord:
    """One step of an interleaving, for people: who moved, what it acquired,
    how that went, what it released (in order), and every lock held
    afterwards (by path label)."""

    path: str
    cpu: str
    acquire: Acquire
    answer: str  # acquired, failed (a spin_trylock), retrying
    finished: bool  # the path ran to its end in this step
    crash: str | None  # why the path stopped with a fault in this step
    released: tuple[str, ...]
    holds: dict[str, list[str]]

    @property
    def result(self) -> str:
        if self.crash:
            return f"crashed: {self.crash}"
        if self.answer == "failed":
            return "failed: SWAP_AGAIN"
        return f"{self.answer}, then the path finished" if self.finished else self.answer

    def line(self, number: int) -> str:
        """The step on one line, its path named by its CPU (the locks held
        afterwards follow from the steps before, so they are left to ``holds``)."""
        if self.crash:
            return f"{number}. {self.cpu}: {self.acquire.describe()} -> crashed: {self.crash}"
        released = f"; releases {', '.join(self.released)}" if self.released else ""
        ends = "; path ends" if self.finished else ""
        answer = "failed: SWAP_AGAIN" if self.answer == "failed" else self.answer
        return f"{number}. {self.cpu}: {self.acquire.describe()} -> {answer}{released}{ends}"


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
    """One interleaving in progress: ``paths`` started on kernel ``k`` (the
    state the trace's operations before them made), one thread each."""

    def __init__(self, k: ConcurrentKernel, rmap: SeedRmap, paths: Sequence[PathSpec]) -> None:
        self.k, self.rmap = k, rmap
        k.on_acquire = self._point
        rmap.on_unmap_answer = self._answered  # type: ignore[attr-defined]
        self.back = Signal()
        self.events = StepEvents()
        self.paths = [PathRun(i, spec, f"cpu{i}") for i, spec in enumerate(paths)]
        self.current = self.paths[0]
        for path in self.paths:
            _THREADS.run(lambda path=path: self._run(path))
            self._resume(path)
            if path.status == "crashed" or path.pending is None:
                self.close()
                raise ValueError(f"{path.spec.label()} cannot start: {path.fault or 'it takes no lock'}")

    @classmethod
    def on(
        cls, k: Kernel, variant: str, paths: Sequence[PathSpec], *, blocking: bool, debug_rmap: bool = False
    ) -> Execution:
        """``paths`` started on ``k`` (given up to it) with variant's rmap,
        checking the seed's locking comments; with ``blocking``,
        try_to_unmap_one's spin_trylock is a spin_lock."""
        concurrent = ConcurrentKernel.adopt(k, trylock_blocks=blocking)
        return cls(concurrent, observed(variant_class(variant))(concurrent, debug_rmap=debug_rmap), paths)

    # -- inside the path threads
    def _run(self, path: PathRun) -> None:
        path.go.take()
        try:
            if not path.abort:
                self._program(path)
                path.status = "finished"
        except _Abandon:
            pass
        except Exception as why:  # a kernel fault, or impl/ failing in any other way
            path.status, path.fault, path.error = "crashed", f"{type(why).__name__}: {why}", why
            self.events.crash = f"{path.spec.label()}: {path.fault}"
        finally:
            path.pending, path.frames = None, ()
            self.back.give()

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
        self.back.give()
        path.go.take()
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
        path.go.give()
        self.back.take()

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
        self.k.released = []
        self._resume(path)
        answer = "retrying" if acquire is RETRY_WAIT else "acquired"
        if acquire.primitive == "spin_trylock" and not self.k.last_trylock:
            answer = "failed"
            self._trylock_failed(path, acquire.key)
        released = tuple(lock_label(key) for key in self.k.released)
        crash = path.fault if path.status == "crashed" else None
        return StepRecord(
            path.spec.label(), path.cpu, acquire, answer, path.done, crash, released, self.holds()
        )

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

    def blocker(self, path: PathRun) -> str | None:
        """Why ``path`` cannot move now (None when it can): who holds its lock, or who has not finished."""
        acquire = path.pending
        if acquire is None or self._can_move(path):
            return None
        if acquire is RETRY_WAIT:
            busy = [
                p.spec.label()
                for p in self.paths
                if p is not path and not p.done and p.pending is not RETRY_WAIT
            ]
            return f"it retries only once the others have finished ({', '.join(busy)} has not)"
        holder = self._path_of(self.k.holder(acquire.key))
        who = f"{holder.cpu} ({holder.spec.label()})" if holder else str(self.k.holder(acquire.key))
        return f"{lock_label(acquire.key)} is held by {who}"

    def checked_violations(self) -> dict[str, list[str]] | None:
        """The invariants broken at a state where they must hold: where no lock
        is held, and where every path has finished (a lock still held then is
        a violation of rep_locks_released for every CPU); None elsewhere."""
        done = all(p.done for p in self.paths)
        if not (done or self.quiescent()):
            return None
        bad = violations(self.k)
        if done and not self.quiescent():
            leaked = [f"{what} still held after every path finished" for what in self.leaks()]
            bad["rep_locks_released"] = [*bad.get("rep_locks_released", []), *leaked]
        return bad

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
