"""The bounded space that realizability searches: abstract states, concrete preimages, environments.

An abstract state is given by a ``Shape``: up to ``MAX_PTES`` ptes in the
mms ``MMS``, each holding one of ``CONTENTS``, and page ``PAGE``'s flags.
``Shape.abstract`` is the ``spec.AbsState`` it means, written in the
spec's own terms (every count is the one ``spec.invariants`` demands), not
computed by impl/.  A *preimage* of it is a trace, a world and then the
real callers mapping its ptes in one order (the chain order: page_add_rmap
pushes at the head; one mapping is direct); an *environment* is what a
world may choose besides (each mapped pte's vma plain, VM_LOCKED or absent,
each mm's page_table_lock held by another CPU, an allocation failing).  The
search checks that α of each preimage is the shape's state, so a wrong
preimage is never counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import combinations_with_replacement, permutations, product
from typing import Any

from spec.state import PTE_EMPTY, AbsState, FMap, PageAbs, PteAbs

PAGE, RESERVED, SLOT = 1, 2, 9  # the reverse-mapped page, a PG_reserved page, the swap slot
MMS = ("m0", "m1")
MAX_PTES = 3
CONTENTS: dict[str, PteAbs] = {
    "none": PTE_EMPTY,
    "old": PteAbs("page", PAGE),
    "young dirty": PteAbs("page", PAGE, young=True, dirty=True),
    "reserved": PteAbs("page", RESERVED, young=True),
    "swap": PteAbs("swap", SLOT),
}
VMAS = ("plain", "VM_LOCKED", "absent")  # each mapped pte's own vma; absent may leave a hole below another
ALLOCS = ((0, 0), (1, 0), (1, 1))  # fail_alloc (n, after): none fails, the next fails, the one after
PAGE_FLAGS = ("referenced", "dirty", "swapcache")  # page PAGE's PG_referenced, PG_dirty, swap cache
PAGE_SIZE = 4096


def bounds(flags: Sequence[str]) -> str:
    """The bound in words, with the page flags that vary."""
    return (
        f"<= {MAX_PTES} ptes in {len(MMS)} mms (up to renaming), each {' / '.join(CONTENTS)}; page {PAGE}'s "
        f"{', '.join(flags) or 'flags'} {'each on or off' if flags else 'off'}; every chain order; vmas "
        f"{' / '.join(VMAS)} per mapped pte, page_table_lock free or held per mm, allocation failures "
        f"{list(ALLOCS)} (n, after)"
    )


@dataclass(frozen=True)
class Shape:
    """One abstract state of the bound: (mm, content) of p0, p1, ... and page PAGE's flags."""

    ptes: tuple[tuple[str, str], ...]
    referenced: bool
    dirty: bool
    swapcache: bool

    @cached_property
    def names(self) -> list[str]:
        return [f"p{i}" for i in range(len(self.ptes))]

    def holding(self, *contents: str) -> list[str]:
        return [name for name, (_, c) in zip(self.names, self.ptes, strict=True) if c in contents]

    @cached_property
    def mapping(self) -> list[str]:
        """The ptes that map PAGE (so are in its reverse map)."""
        return self.holding("old", "young dirty")

    def mm_of(self, pte: str) -> str:
        return self.ptes[int(pte[1:])][0]

    @cached_property
    def abstract(self) -> AbsState:
        mapped = frozenset(self.mapping)
        return AbsState(
            ptes=FMap.of({name: CONTENTS[c] for name, (_, c) in zip(self.names, self.ptes, strict=True)}),
            pte_mm=FMap.of({name: mm for name, (mm, _) in zip(self.names, self.ptes, strict=True)}),
            pages=FMap.of(
                {
                    PAGE: PageAbs(
                        True,
                        1 + len(mapped),
                        1,
                        self.referenced,
                        self.dirty,
                        SLOT if self.swapcache else None,
                    ),
                    RESERVED: PageAbs(False, 1, 1),
                }
            ),
            rmap=FMap.of({PAGE: mapped, RESERVED: frozenset()}),
            rss=FMap.of({mm: sum(1 for p in mapped if self.mm_of(p) == mm) for mm in MMS}),
            swap=FMap.of({SLOT: 1 + len(self.holding("swap"))}),
            swap_base=FMap.of({SLOT: 1}),
            nr_reverse_maps=len(mapped),
        )

    def describe(self) -> str:
        ptes = ", ".join(f"{n} in {mm}: {c}" for n, (mm, c) in zip(self.names, self.ptes, strict=True))
        flags = [
            f
            for f, on in (
                ("referenced", self.referenced),
                ("dirty", self.dirty),
                ("swap cache", self.swapcache),
            )
            if on
        ]
        return f"{ptes or 'no ptes'}; page {PAGE} {', '.join(flags) or 'clean, unreferenced, not swapped'}"


def shapes(flags: Sequence[str]) -> Iterator[Shape]:
    """Every shape of the bound, fewest ptes first, one per renaming of ptes and mms, with
    each of page PAGE's ``flags`` (of PAGE_FLAGS) on and off and the others off."""
    kinds = [(mm, c) for mm in MMS for c in CONTENTS]
    for n in range(MAX_PTES + 1):
        for ptes in combinations_with_replacement(kinds, n):
            swapped = tuple(sorted((MMS[1 - MMS.index(mm)], c) for mm, c in ptes))
            if swapped < ptes:
                continue
            for on in product((False, True), repeat=len(flags)):
                yield Shape(ptes, **{f: f in flags and on[flags.index(f)] for f in PAGE_FLAGS})


@dataclass(frozen=True)
class Env:
    """What the world chooses besides the state: vmas, held locks, allocation failures."""

    vmas: tuple[tuple[str, str], ...] = ()  # (pte, VMAS entry); a pte not named has a plain vma
    busy: tuple[str, ...] = ()  # mms whose page_table_lock another CPU holds
    alloc: tuple[int, int] = (0, 0)

    def describe(self) -> str:
        parts = [f"{p}'s vma {v}" for p, v in self.vmas if v != "plain"]
        parts += [f"{mm}'s page_table_lock held" for mm in self.busy]
        if self.alloc[0]:
            parts.append(f"allocation {self.alloc[1] + 1} fails")
        return ", ".join(parts) or "plain"


def environments(shape: Shape, ptes: Sequence[str], alloc: bool) -> list[Env]:
    """Every environment of the bound over the vmas of ``ptes`` and the locks of their mms
    (with ``alloc``, every allocation failure instead)."""
    if alloc:
        return [Env(alloc=a) for a in ALLOCS]
    mms = sorted({shape.mm_of(p) for p in ptes})
    return [
        Env(tuple(zip(ptes, vmas, strict=True)), tuple(mm for mm, on in zip(mms, busy, strict=True) if on))
        for vmas in product(VMAS, repeat=len(ptes))
        for busy in product((False, True), repeat=len(mms))
    ]


def world(shape: Shape, env: Env) -> dict[str, Any]:
    """The world of the preimage: pages, mms with env's vmas (each pte its own), ptes, the slot."""
    vma_of = dict(env.vmas)
    return {
        "op": "world",
        "pages": [
            {
                "pfn": PAGE,
                "count": 1,
                "mapping": "file",
                "referenced": shape.referenced,
                "dirty": shape.dirty,
                "swapcache": shape.swapcache,
                "index": SLOT,
            },
            {"pfn": RESERVED, "count": 1, "reserved": True},
        ],
        "mms": [
            {
                "name": mm,
                "vmas": [
                    {
                        "start": _address(p),
                        "end": _address(p) + PAGE_SIZE,
                        "locked": vma_of.get(p) == "VM_LOCKED",
                    }
                    for p in shape.names
                    if shape.mm_of(p) == mm and vma_of.get(p) != "absent"
                ],
            }
            for mm in MMS
        ],
        "ptes": [
            {
                "name": p,
                "mm": shape.mm_of(p),
                "address": _address(p),
                **({"swap": SLOT} if p in shape.holding("swap") else {}),
            }
            for p in shape.names
        ],
        "swap": {SLOT: 1 + len(shape.holding("swap"))},
    }


def mappings(shape: Shape, order: Sequence[str]) -> list[dict[str, Any]]:
    """The callers making the shape's mappings, PAGE's in ``order``, then the young bits cleared."""
    ops: list[dict[str, Any]] = [
        {"op": "map", "pte": p, "pfn": PAGE, "dirty": p in shape.holding("young dirty")} for p in order
    ]
    ops += [{"op": "map", "pte": p, "pfn": RESERVED} for p in shape.holding("reserved")]
    return ops + [{"op": "set_pte", "pte": p, "young": False} for p in shape.holding("old")]


def env_ops(env: Env) -> list[dict[str, Any]]:
    """env's locks and allocation failure, which come after the mappings (map needs the lock free)."""
    ops: list[dict[str, Any]] = [{"op": "lock", "mm": mm} for mm in env.busy]
    if env.alloc[0]:
        ops.append({"op": "fail_alloc", "n": env.alloc[0], "after": env.alloc[1]})
    return ops


def build(shape: Shape, order: Sequence[str], env: Env) -> list[dict[str, Any]]:
    """The preimage trace: the world, the mappings in ``order``, the environment."""
    return [world(shape, env), *mappings(shape, order), *env_ops(env)]


def orders(shape: Shape) -> list[tuple[str, ...]]:
    """Every order of mapping PAGE's ptes: every chain order (the last mapped is the head)."""
    return list(permutations(shape.mapping))


def _address(pte: str) -> int:
    return PAGE_SIZE * (1 + int(pte[1:]))
