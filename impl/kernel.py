"""An executable model of the parts of Linux 2.5.31 that mm/rmap.c calls.

Everything here is the *environment* of the seed: struct page and its flags,
the pte union, page-table entries, mm_struct, vm_area_struct, spinlocks, the
slab cache, the swap map and page_state.  The seed's own functions live in
``impl.rmap_seed`` and only use what this module offers, under the kernel's
names, so that the port reads like the C.

Where Python must differ from C:
- A pointer is an object reference; C's NULL is the ``NULL`` sentinel, whose
  dereference raises ``Oops`` (C would fault) instead of AttributeError.
- ``BUG()`` raises ``Bug`` carrying the function and the reason.
- A spinlock that is already held can never be released in a sequential
  run, so acquiring it raises ``Deadlock`` instead of spinning forever.

The kernel keeps one ordered event log, ``Kernel.events``, of what the
rules for changing a user pte (``impl.flush_rules``, after
Documentation/cachetlb.txt) are about: every change of a pte (``set_pte``,
``ptep_get_and_clear``; the model has no ``pte_clear``), every TLB and
cache flush, and this CPU's taking and dropping of an mm's
page_table_lock.  ``ptep_test_and_clear_young`` is not logged: it clears
only the accessed bit, a hint the hardware sets again, and changes no
translation, so the rules exempt it (page_referenced runs it without the
page_table_lock and without a flush, as every 2.5 kernel did).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from typing import Final, Literal, NamedTuple, NoReturn

# ---------------------------------------------------------------- failures


class KernelFault(Exception):
    """Base of every way the modelled kernel can stop: BUG, oops, lockup."""

    kind = "fault"

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{self.kind} in {where}: {why}")
        self.where = where
        self.why = why


class Bug(KernelFault):
    """BUG(): an assertion of the kernel itself fired."""

    kind = "BUG"


class Oops(KernelFault):
    """A NULL (or wrongly typed) pointer was dereferenced: a kernel oops."""

    kind = "Oops"


class Deadlock(KernelFault):
    """A spinlock was taken that nobody can release: the CPU spins forever."""

    kind = "deadlock"


def _caller(depth: int = 2) -> str:
    """Name of the kernel function that called the failing primitive."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_name}:{frame.f_lineno}"


def BUG(why: str) -> NoReturn:
    raise Bug(_caller(), why)


class _Null:
    """C's NULL pointer: false in a test, an oops when dereferenced."""

    __slots__ = ()

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NULL"

    def __getattr__(self, name: str) -> NoReturn:
        raise Oops(_caller(), f"NULL pointer dereference reading ->{name}")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise Oops(_caller(), f"NULL pointer dereference writing ->{name}")


NULL: Final = _Null()

# ---------------------------------------------------------------- page flags
# Bit numbers of include/linux/page-flags.h in 2.5.31.  The kernel then had
# no PG_swapcache bit (PageSwapCache tested page->mapping); the model gives
# the swap cache its own bit, as CONTEXT.md names it.

PG_locked: Final = 0
PG_referenced: Final = 2
PG_dirty: Final = 4
PG_reserved: Final = 12
PG_chainlock: Final = 15
PG_direct: Final = 16
PG_swapcache: Final = 17

FLAG_NAMES: Final = {
    PG_locked: "locked",
    PG_referenced: "referenced",
    PG_dirty: "dirty",
    PG_reserved: "reserved",
    PG_chainlock: "chainlock",
    PG_direct: "direct",
    PG_swapcache: "swapcache",
}

VM_LOCKED: Final = 0x2000

SWAP_SUCCESS: Final = 0
SWAP_AGAIN: Final = 1
SWAP_FAIL: Final = 2
SWAP_ERROR: Final = 3
SWAP_NAMES: Final = {
    SWAP_SUCCESS: "SWAP_SUCCESS",
    SWAP_AGAIN: "SWAP_AGAIN",
    SWAP_FAIL: "SWAP_FAIL",
    SWAP_ERROR: "SWAP_ERROR",
}

ENOMEM: Final = 12
SWAP_MAP_MAX: Final = 0x7FFF
GFP_ATOMIC: Final = "GFP_ATOMIC"

# ---------------------------------------------------------------- event log

EventKind = Literal["set_pte", "ptep_get_and_clear", "flush_cache_page", "flush_tlb_page", "lock", "unlock"]
PTE_CHANGES: Final = ("set_pte", "ptep_get_and_clear")


class Event(NamedTuple):
    """One entry of the event log: ``(kind, mm, address, present)``.

    ``mm`` names the mm whose pte, TLB entry or page_table_lock it is;
    ``address`` is the user virtual address (0 for ``lock``/``unlock``);
    ``present`` is, for a pte change, whether the pte held a present
    translation just before it (the TLB and a virtually indexed cache may
    then hold it), and False for every other kind.
    """

    kind: EventKind
    mm: str
    address: int = 0
    present: bool = False


# ---------------------------------------------------------------- ptes


@dataclass(frozen=True)
class PteVal:
    """A pte_t value: a present mapping of a pfn, a swap entry, or none."""

    present: bool = False
    pfn: int = 0
    young: bool = False
    dirty: bool = False
    swap: int | None = None  # the swap entry a non-present pte holds


PTE_NONE: Final = PteVal()


@dataclass(eq=False)
class Pte:
    """A pte slot, i.e. what a ``pte_t *`` points at.

    The page-table page it sits in records its mm and virtual address, which
    is what ptep_to_mm and ptep_to_address read.
    """

    name: str
    mm: MM
    address: int
    val: PteVal = PTE_NONE

    def __repr__(self) -> str:
        return f"pte {self.name}"


def pte_present(pte: PteVal) -> bool:
    return pte.present


def pte_pfn(pte: PteVal) -> int:
    return pte.pfn


def pte_dirty(pte: PteVal) -> bool:
    return pte.dirty


def pte_none(pte: PteVal) -> bool:
    return pte == PTE_NONE


def mk_pte(pfn: int, *, young: bool = True, dirty: bool = False) -> PteVal:
    return PteVal(present=True, pfn=pfn, young=young, dirty=dirty)


def swp_entry_to_pte(entry: int) -> PteVal:
    return PteVal(swap=entry)


def _pte_changed(ptep: PtePtr, kind: EventKind, was: PteVal) -> None:
    if isinstance(ptep, Pte):  # else the write before it has oopsed already
        ptep.mm.events.append(Event(kind, ptep.mm.name, ptep.address, was.present))


def set_pte(ptep: PtePtr, val: PteVal) -> None:
    was = ptep.val if isinstance(ptep, Pte) else PTE_NONE
    ptep.val = val
    _pte_changed(ptep, "set_pte", was)


def ptep_get_and_clear(ptep: PtePtr) -> PteVal:
    old = ptep.val
    ptep.val = PTE_NONE
    _pte_changed(ptep, "ptep_get_and_clear", old)
    return old


def ptep_test_and_clear_young(ptep: PtePtr) -> bool:
    old = ptep.val
    ptep.val = replace(old, young=False)
    return old.young


def ptep_to_mm(ptep: PtePtr) -> MM:
    return ptep.mm


def ptep_to_address(ptep: PtePtr) -> int:
    return ptep.address


# ---------------------------------------------------------------- mm, vma


@dataclass
class SpinLock:
    """A spinlock; ``holder`` names the CPU that holds it.  An mm's
    page_table_lock knows its mm (``mm``), so taking it is logged."""

    holder: str | None = None
    mm: str | None = None


@dataclass
class VMA:
    vm_start: int
    vm_end: int
    vm_flags: int = 0
    vm_mm: str | None = None  # a vma on no mm's list (the callers' stand-in) names its mm


@dataclass(eq=False)
class MM:
    name: str
    rss: int = 0
    page_table_lock: SpinLock = field(default_factory=SpinLock)
    vmas: list[VMA] = field(default_factory=list)  # sorted by vm_start
    # The kernel's event log (``Kernel.events``), shared, for the pte
    # primitives, which reach the kernel only through the pte's mm.
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page_table_lock.mm = self.name

    def __repr__(self) -> str:
        return f"mm {self.name}"


def find_vma(mm: MM, addr: int) -> VMA | None:
    """The first vma whose vm_end is above addr; it need not contain addr."""
    for vma in mm.vmas:
        if vma.vm_end > addr:
            return vma
    return None


# ---------------------------------------------------------------- pages


@dataclass(eq=False)
class PteChain:
    """struct pte_chain: one node of a page's reverse-mapping chain."""

    next: ChainPtr = NULL
    ptep: PtePtr = NULL


class PteUnion:
    """``union { struct pte_chain *chain; pte_t *direct; } pte``: ONE word.

    Both members read and write the same word; PG_direct tells which one it
    holds.  Reading ``direct`` while the word holds a chain node is the C
    type confusion, and dereferencing the result is an oops in the model.
    """

    __slots__ = ("word",)

    def __init__(self) -> None:
        self.word: PteChain | Pte | _Null = NULL

    @property
    def chain(self) -> PteChain | _Null | _Misread:
        word = self.word
        return word if not isinstance(word, Pte) else _Misread(word)

    @chain.setter
    def chain(self, value: PteChain | _Null | _Misread) -> None:
        self.word = value.target if isinstance(value, _Misread) else value

    @property
    def direct(self) -> Pte | _Null | _Misread:
        word = self.word
        return word if not isinstance(word, PteChain) else _Misread(word)

    @direct.setter
    def direct(self, value: Pte | _Null | _Misread) -> None:
        self.word = value.target if isinstance(value, _Misread) else value


class _Misread:
    """A union word read as the member it does not hold: true as a pointer
    (it is not NULL), an oops when dereferenced, itself when stored back."""

    __slots__ = ("target",)
    target: PteChain | Pte

    def __init__(self, target: PteChain | Pte) -> None:
        object.__setattr__(self, "target", target)

    def __bool__(self) -> bool:
        return True

    def __getattr__(self, name: str) -> NoReturn:
        raise Oops(_caller(), f"union pte read as the wrong member (->{name})")

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise Oops(_caller(), f"union pte read as the wrong member (->{name})")


# What a C pointer variable of each type may hold in the model.
ChainPtr = PteChain | _Null | _Misread
PtePtr = Pte | _Null | _Misread


@dataclass(eq=False)
class Page:
    """struct page, with the fields the seed and its callers touch."""

    pfn: int
    count: int = 0
    flags: int = 0
    mapping: str | None = None
    index: int = 0
    pte: PteUnion = field(default_factory=PteUnion)

    def __repr__(self) -> str:
        return f"page {self.pfn}"


PagePtr = Page | _Null


def _test(page: Page, bit: int) -> bool:
    return bool(page.flags >> bit & 1)


def _set(page: Page, bit: int) -> None:
    page.flags |= 1 << bit


def _clear(page: Page, bit: int) -> None:
    page.flags &= ~(1 << bit)


def PageDirect(page: Page) -> bool:
    return _test(page, PG_direct)


def SetPageDirect(page: Page) -> None:
    _set(page, PG_direct)


def ClearPageDirect(page: Page) -> None:
    _clear(page, PG_direct)


def PageReserved(page: Page) -> bool:
    return _test(page, PG_reserved)


def PageLocked(page: Page) -> bool:
    return _test(page, PG_locked)


def PageSwapCache(page: Page) -> bool:
    return _test(page, PG_swapcache)


def PageDirty(page: Page) -> bool:
    return _test(page, PG_dirty)


def set_page_dirty(page: Page) -> None:
    _set(page, PG_dirty)


def TestClearPageReferenced(page: Page) -> bool:
    was = _test(page, PG_referenced)
    _clear(page, PG_referenced)
    return was


def set_flag(page: Page, bit: int, on: bool) -> None:
    """Set or clear one page flag (for world set-up and fault injection)."""
    (_set if on else _clear)(page, bit)


def test_flag(page: Page, bit: int) -> bool:
    return _test(page, bit)


# ---------------------------------------------------------------- slab


@dataclass
class KmemCache:
    """A slab cache that knows its live objects; GFP_ATOMIC may fail."""

    name: str
    live: list[PteChain] = field(default_factory=list)
    fail_next: int = 0  # how many of the next allocations return NULL

    def alloc(self, gfp: str) -> PteChain | _Null:
        if self.fail_next > 0:
            self.fail_next -= 1
            return NULL
        obj = PteChain()
        self.live.append(obj)
        return obj

    def free(self, obj: ChainPtr) -> None:
        if not any(o is obj for o in self.live):
            raise Bug(_caller(), f"kmem_cache_free of an object not live in {self.name}")
        self.live = [o for o in self.live if o is not obj]


# ---------------------------------------------------------------- the kernel


@dataclass
class PageState:
    nr_reverse_maps: int = 0


@dataclass(eq=False)
class Kernel:
    """The whole modelled machine: mem_map, mms, ptes, swap map, slab.

    ``cpu`` names the CPU running the current kernel path; another CPU's
    hold on a lock is a lock whose holder is a different name.
    """

    mem_map: dict[int, Page] = field(default_factory=dict)
    # struct pages of pfns outside mem_map (I/O memory): pfn_valid is false.
    io_pages: dict[int, Page] = field(default_factory=dict)
    mms: dict[str, MM] = field(default_factory=dict)
    ptes: dict[str, Pte] = field(default_factory=dict)
    swap_map: dict[int, int] = field(default_factory=dict)
    page_state: PageState = field(default_factory=PageState)
    pte_chain_cache: KmemCache | None = None
    events: list[Event] = field(default_factory=list)  # the event log, in order
    log: list[str] = field(default_factory=list)  # what printk wrote
    cpu: str = "cpu0"
    pagemap_lru_lock: SpinLock = field(default_factory=SpinLock)
    # Ghosts, not kernel state, fixed when the world is made: references to
    # each page, and to each swap entry, held by others than the modelled
    # ptes (page cache, swap cache, the caller, unmodelled processes).
    base_count: dict[int, int] = field(default_factory=dict)
    swap_base: dict[int, int] = field(default_factory=dict)

    def add_mm(self, name: str, vmas: list[VMA] | None = None) -> MM:
        """A new mm of this kernel, logging into its event log."""
        mm = MM(name, vmas=vmas or [], events=self.events)
        self.mms[name] = mm
        return mm

    @property
    def flushes(self) -> list[tuple[str, str, int]]:
        """The TLB and cache flushes of the event log, in order: (function, mm, address)."""
        return [(e.kind, e.mm, e.address) for e in self.events if e.kind.startswith("flush_")]

    # -- memory map
    def pfn_valid(self, pfn: int) -> bool:
        return pfn in self.mem_map

    def pfn_to_page(self, pfn: int) -> Page:
        return self.mem_map[pfn]

    def page_to_pfn(self, page: PagePtr) -> int:
        # Pointer arithmetic in C (page - mem_map): it reads nothing, so a
        # NULL page gives a meaningless pfn instead of a fault.
        return page.pfn if isinstance(page, Page) else -1

    def get_page(self, page: Page) -> None:
        page.count += 1

    def page_cache_release(self, page: Page) -> None:
        if page.count <= 0:
            raise Bug(_caller(), f"page_cache_release of free page {page.pfn}")
        page.count -= 1

    # -- locks
    def spin_lock(self, lock: SpinLock) -> None:
        if lock.holder is not None:
            raise Deadlock(_caller(), f"spinning on a lock held by {lock.holder}")
        self._take(lock)

    def spin_trylock(self, lock: SpinLock) -> bool:
        if lock.holder is not None:
            return False
        self._take(lock)
        return True

    def spin_unlock(self, lock: SpinLock) -> None:
        if lock.holder != self.cpu:
            raise Bug(_caller(), f"spin_unlock of a lock held by {lock.holder}")
        lock.holder = None
        if lock.mm is not None:
            self.events.append(Event("unlock", lock.mm))

    def _take(self, lock: SpinLock) -> None:
        lock.holder = self.cpu
        if lock.mm is not None:
            self.events.append(Event("lock", lock.mm))

    def pte_chain_lock(self, page: Page) -> None:
        if _test(page, PG_chainlock):
            raise Deadlock(_caller(), f"pte_chain_lock of page {page.pfn} already held")
        _set(page, PG_chainlock)

    def pte_chain_unlock(self, page: Page) -> None:
        if not _test(page, PG_chainlock):
            raise Bug(_caller(), f"pte_chain_unlock of page {page.pfn} not held")
        _clear(page, PG_chainlock)

    # -- slab
    def kmem_cache_create(self, name: str) -> KmemCache:
        return KmemCache(name)

    def kmem_cache_alloc(self, cache: KmemCache | None, gfp: str) -> PteChain | _Null:
        if cache is None:
            raise Oops(_caller(), "kmem_cache_alloc before pte_chain_init")
        return cache.alloc(gfp)

    def kmem_cache_free(self, cache: KmemCache | None, obj: ChainPtr) -> None:
        if cache is None:
            raise Oops(_caller(), "kmem_cache_free before pte_chain_init")
        cache.free(obj)

    # -- swap
    def swap_duplicate(self, entry: int) -> int:
        """One more reference to a swap slot; 0 for a bad or unused entry.

        A slot that reaches SWAP_MAP_MAX stays there for good (2.5's
        overflow rule), so its later swap_free calls do not lower it.
        """
        count = self.swap_map.get(entry)
        if count is None or count == 0:
            return 0
        if count < SWAP_MAP_MAX:
            self.swap_map[entry] = count + 1
        return 1

    def swap_free(self, entry: int) -> None:
        count = self.swap_map.get(entry)
        if count is None or count == 0:
            raise Bug(_caller(), f"swap_free of unused swap entry {entry}")
        if count < SWAP_MAP_MAX:
            self.swap_map[entry] = count - 1

    # -- statistics, console and TLB
    def printk(self, message: str) -> None:
        self.log.append(message)

    def inc_page_state(self, member: str) -> None:
        setattr(self.page_state, member, getattr(self.page_state, member) + 1)

    def dec_page_state(self, member: str) -> None:
        setattr(self.page_state, member, getattr(self.page_state, member) - 1)

    def flush_tlb_page(self, vma: VMA, address: int) -> None:
        self.events.append(Event("flush_tlb_page", self._vma_owner(vma), address))

    def flush_cache_page(self, vma: VMA, address: int) -> None:
        self.events.append(Event("flush_cache_page", self._vma_owner(vma), address))

    def _vma_owner(self, vma: VMA) -> str:
        if vma.vm_mm is not None:
            return vma.vm_mm
        return next(mm.name for mm in self.mms.values() if any(v is vma for v in mm.vmas))
