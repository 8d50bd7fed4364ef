"""The symbolic kernel state the generated transitions act on.

One field per piece of kernel state the rmap code can reach, each a z3
term: scalars for the one page an obligation is about (the focus page) and
the kernel's globals, arrays indexed by object id for ptes, pte_chain
nodes and mms.  Pointers are integers: 0 is NULL, a pte has a positive id
and a pte_chain node a negative one, so the word of the pte union holds
either kind and a read of it as the wrong member is a sign test, as in C.
``FIELDS`` is the layout; ``proofs.z3.layout`` says which attribute of
which impl.kernel class each field is.

Ghost fields (``g.*``) are not kernel state: the chain as an index array
with inverse maps (``g.n`` entries, ``g.nd[k]`` the node at position k,
``g.npos[x]`` a node's position, ``g.pe[k]`` the pte at position k and
``g.ppos[p]`` a pte's position, -1 when absent), the nodes of other pages'
chains and the references others hold.
α's reverse map is {p : g.ppos[p] >= 0}; the representation invariant ties
the ghosts to the concrete chain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import z3

NULL = 0
FLAG_BITS = 32
# Interned strings: an Optional[str] field is an Int, 0 standing for None.
# The model's names are never empty (the world schema), so a name's
# truthiness is "not None".
STRINGS: tuple[str, ...] = ("cpu0", "cpu1", "file", "activate", "keep_inactive", "free", "mapped", "oom")


def intern(text: str | None) -> int:
    """The Int a string (or None) is stored as."""
    if text is None:
        return 0
    if text not in STRINGS:
        raise KeyError(f"no interned id for string {text!r}; add it to proofs.z3.heap.STRINGS")
    return STRINGS.index(text) + 1


def unintern(value: int) -> str | None:
    return None if value == 0 else STRINGS[value - 1]


@dataclass(frozen=True)
class Field:
    """One component of the state: its sort and, for arrays, its index sorts."""

    sort: str  # "int", "bool", "bv"
    index: tuple[str, ...] = ()  # () scalar; ("int",) array; ("int", "int") 2-d array
    ghost: bool = False
    doc: str = ""


def _sort(kind: str) -> z3.SortRef:
    return {"int": z3.IntSort(), "bool": z3.BoolSort(), "bv": z3.BitVecSort(FLAG_BITS)}[kind]


FIELDS: dict[str, Field] = {
    # the focus page (struct page)
    "page.pfn": Field("int", doc="its pfn"),
    "page.count": Field("int", doc="page->count"),
    "page.flags": Field("bv", doc="page->flags"),
    "page.mapping": Field("int", doc="page->mapping (0: NULL, else an address space)"),
    "page.index": Field("int", doc="page->index (the swap entry of a swap-cache page)"),
    "page.word": Field("int", doc="the pte union: a pte (> 0), a pte_chain node (< 0) or NULL"),
    "page.valid": Field("bool", doc="pfn_valid(page's pfn): it is in mem_map"),
    "mem.valid": Field("bool", ("int",), doc="pfn_valid of the other pfns"),
    # struct pte_chain nodes, by (negative) id
    "node.next": Field("int", ("int",)),
    "node.ptep": Field("int", ("int",)),
    # ptes, by (positive) id: the pte_t value, and the page-table page's mm and address
    "pte.present": Field("bool", ("int",)),
    "pte.pfn": Field("int", ("int",)),
    "pte.young": Field("bool", ("int",)),
    "pte.dirty": Field("bool", ("int",)),
    "pte.swap": Field("int", ("int",), doc="the swap entry a non-present pte holds, -1 for none"),
    "pte.mm": Field("int", ("int",), doc="ptep_to_mm: an mm id (> 0)"),
    "pte.address": Field("int", ("int",), doc="ptep_to_address"),
    # mm_struct, by id
    "mm.rss": Field("int", ("int",)),
    "mm.lock": Field("int", ("int",), doc="page_table_lock's holder (an interned cpu name, 0: free)"),
    # find_vma(mm, address), by (mm, address): whether it answers a vma, and that vma
    "vma.found": Field("bool", ("int", "int")),
    "vma.start": Field("int", ("int", "int")),
    "vma.end": Field("int", ("int", "int")),
    "vma.flags": Field("bv", ("int", "int")),
    # the kernel's globals
    "swap.count": Field("int", ("int",), doc="swap_map[entry] (0 for an unused entry)"),
    "state.nr": Field("int", doc="page_state.nr_reverse_maps"),
    "slab.live": Field("bool", ("int",), doc="pte_chain_cache's live objects"),
    "slab.fail_next": Field("int", doc="how many GFP_ATOMIC allocations fail after slab.succeed"),
    "slab.succeed": Field("int", doc="how many of the next GFP_ATOMIC allocations succeed first"),
    "lru.lock": Field("int", doc="pagemap_lru_lock's holder"),
    # ghosts
    "g.n": Field("int", ghost=True),
    "g.nd": Field("int", ("int",), ghost=True),
    "g.npos": Field("int", ("int",), ghost=True),
    "g.ppos": Field("int", ("int",), ghost=True),
    "g.pe": Field("int", ("int",), ghost=True, doc="the pte at each position"),
    "g.other": Field("bool", ("int",), ghost=True, doc="nodes on other pages' chains"),
    "g.base": Field("int", ghost=True, doc="references to the page held by others than its ptes"),
    "g.nr_other": Field("int", ghost=True, doc="reverse-map entries of the other pages"),
    "g.walked": Field("int", ghost=True, doc="how many entries try_to_unmap's last walk reached"),
}
CHAIN_GHOSTS = ("g.n", "g.nd", "g.npos", "g.ppos", "g.pe")


def fresh_term(name: str, field: Field) -> Any:
    if not field.index:
        return z3.Const(name, _sort(field.sort))
    return z3.Array(name, *[_sort(i) for i in field.index], _sort(field.sort))


def default_term(field: Field, value: Any) -> Any:
    """A constant array (or scalar) holding ``value`` everywhere."""
    term = value if z3.is_expr(value) else _value(field.sort, value)
    for index in reversed(field.index):
        term = z3.K(_sort(index), term)
    return term


def _value(sort: str, value: Any) -> Any:
    if sort == "bool":
        return z3.BoolVal(bool(value))
    if sort == "bv":
        return z3.BitVecVal(int(value), FLAG_BITS)
    return z3.IntVal(int(value))


class Heap(Mapping[str, Any]):
    """An immutable map from field name to term; ``set`` answers a new one."""

    __slots__ = ("_terms",)

    def __init__(self, terms: Mapping[str, Any]) -> None:
        self._terms = dict(terms)

    def __getitem__(self, name: str) -> Any:
        return self._terms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._terms)

    def __len__(self) -> int:
        return len(self._terms)

    def set(self, name: str, term: Any) -> Heap:
        if name not in FIELDS:
            raise KeyError(name)
        out = dict(self._terms)
        out[name] = term
        return Heap(out)

    def update(self, changes: Mapping[str, Any]) -> Heap:
        out = dict(self._terms)
        out.update(changes)
        return Heap(out)

    def select(self, name: str, *index: Any) -> Any:
        term = self._terms[name]
        return term[index[0]] if len(index) == 1 else z3.Select(term, *index) if index else term

    def store(self, name: str, index: Any, value: Any) -> Heap:
        """``name[index] = value``, leaving the term alone when it stores back
        what it read (ptep.val = replace(old, young=False) rewrites each field)."""
        array = self._terms[name]
        if z3.eq(array[index], value):
            return self
        return self.set(name, z3.Store(array, index, value))

    def changed(self, other: Heap) -> list[str]:
        """The fields whose terms differ (syntactically) from ``other``'s."""
        mine, theirs = self._terms, other._terms
        return [n for n in FIELDS if mine[n] is not theirs[n] and not z3.eq(mine[n], theirs[n])]


def fresh_heap(tag: str) -> Heap:
    """A state of fresh constants named ``tag.field``."""
    return Heap({name: fresh_term(f"{tag}:{name}", f) for name, f in FIELDS.items()})


def ite_heap(c: Any, a: Heap, b: Heap) -> Heap:
    """The state that is ``a`` where ``c`` holds and ``b`` elsewhere."""
    out = {}
    for name in FIELDS:
        x, y = a[name], b[name]
        out[name] = x if x is y or z3.eq(x, y) else z3.If(c, x, y)
    return Heap(out)
