"""The modelled kernel with lock acquisitions as scheduling points.

``ConcurrentKernel`` makes every lock *acquisition* (spin_lock,
spin_trylock, pte_chain_lock) a scheduling point: the path stops just
before it, and the explorer decides which path moves next.  ``observed``
wraps a variant so that each seed function checks the locks its comment
says the caller holds.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from impl.kernel import (
    Kernel,
    Page,
    Pte,
    PteChain,
    SpinLock,
    _Null,
)
from impl.rmap_seed import SeedRmap

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
    released: list[LockKey] = field(default_factory=list)  # the step's releases, in order

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

    def spin_unlock(self, lock: SpinLock) -> None:
        super().spin_unlock(lock)
        self.released.append(self.lock_key(lock))

    def pte_chain_lock(self, page: Page) -> None:
        self._acquiring("pte_chain_lock", ("chain", page.pfn), True)
        super().pte_chain_lock(page)
        self.chain_holders[page.pfn] = self.cpu

    def pte_chain_unlock(self, page: Page) -> None:
        super().pte_chain_unlock(page)
        self.chain_holders.pop(page.pfn, None)
        self.released.append(("chain", page.pfn))


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
