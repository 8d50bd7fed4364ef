"""The abstract state of the reverse mapping: sets and counters, no pointers.

What the rmap means, stripped of how it is stored: which ptes each page's
reverse map records (a set: no order, no direct/chain distinction, no
pte_chain nodes), what every pte holds, and the counters the kernel keeps.
Everything is immutable; operations in ``spec.ops`` return new states.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

K = TypeVar("K", str, int)
V = TypeVar("V")


@dataclass(frozen=True)
class FMap(Generic[K, V]):
    """An immutable, hashable mapping kept as sorted pairs."""

    pairs: tuple[tuple[K, V], ...] = ()

    @staticmethod
    def of(mapping: Mapping[K, V]) -> FMap[K, V]:
        return FMap(tuple(sorted(mapping.items())))

    def __getitem__(self, key: K) -> V:
        for k, v in self.pairs:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[K]:
        return (k for k, _ in self.pairs)

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.pairs)

    def items(self) -> tuple[tuple[K, V], ...]:
        return self.pairs

    def set(self, key: K, value: V) -> FMap[K, V]:
        return FMap.of({**dict(self.pairs), key: value})


PteKind = Literal["none", "page", "swap"]


@dataclass(frozen=True, order=True)
class PteAbs:
    """What one pte holds: nothing, a present page (pfn), or a swap entry."""

    kind: PteKind = "none"
    target: int = 0
    young: bool = False
    dirty: bool = False


PTE_EMPTY = PteAbs()


@dataclass(frozen=True)
class PageAbs:
    """What the spec knows of a page besides its mappings."""

    normal: bool  # pfn valid and not PG_reserved: it is reverse-mapped
    count: int  # page reference count
    base: int  # references held by others than its ptes (ghost, fixed)
    referenced: bool = False
    dirty: bool = False
    swap_entry: int | None = None  # in the swap cache at this entry


@dataclass(frozen=True)
class AbsState:
    """The abstract rmap state.

    ``rmap[pfn]`` is the set of ptes the reverse map of page ``pfn`` records;
    ``swap_base[e]`` is the ghost count of swap references to entry ``e``
    held by others than the modelled ptes.
    """

    ptes: FMap[str, PteAbs]
    pte_mm: FMap[str, str]
    pages: FMap[int, PageAbs]
    rmap: FMap[int, frozenset[str]]
    rss: FMap[str, int]
    swap: FMap[int, int]
    swap_base: FMap[int, int]
    nr_reverse_maps: int

    def with_(self, **changes: object) -> AbsState:
        return replace(self, **changes)  # type: ignore[arg-type]

    def mapped_pfn(self, pte: str) -> int | None:
        """The page a pte maps, when it holds a present mapping."""
        val = self.ptes[pte]
        return val.target if val.kind == "page" else None
