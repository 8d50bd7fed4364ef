"""The z3 state: one page's reverse map and everything the seed touches.

Pointers are integers: 0 is NULL, ptes, pte_chain nodes and mms have ids
from 1.  The concrete fields mirror impl.kernel (the pte union as ``word``
plus ``wpte``, the type of what the word holds; the ``next``/``ptep``
arrays of the slab nodes; per-pte value arrays; counters).  The ghost
fields carry the chain as an index array with inverse maps, which is what
makes the abstraction quantifier-free:

- ``n``: the number of reverse-map entries (1 for a direct page),
- ``nd[k]``: the node at chain position k,
- ``npos[x]``: the position of node x on this page's chain, or -1,
- ``ppos[p]``: the position of pte p in the reverse map, or -1;
  α's reverse map is exactly {p : ppos[p] >= 0}.

Nodes on other pages' chains are the ghost set ``other`` (a frame: no
operation on this page touches them).  The environment is part of the
state: ``busy[mm]`` (another CPU holds mm's page_table_lock), ``vk[p]``
(how find_vma answers for p's address) and ``fail_next`` (failing
GFP_ATOMIC allocations to come).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import z3

from impl.abstraction import chain_nodes
from impl.kernel import (
    VM_LOCKED,
    Kernel,
    Page,
    PageDirect,
    PageDirty,
    PageLocked,
    PageReserved,
    PageSwapCache,
    PG_chainlock,
    PG_referenced,
    Pte,
    PteChain,
    find_vma,
    test_flag,
)

NULL = 0
# What a pte holds.
NONE, PAGE, SWAP = 0, 1, 2
# How find_vma answers for a pte's address: a vma contains it (OK, LOCKED),
# no vma ends above it (NOVMA), or the first vma ending above it starts
# above it (HOLE: the address is in a hole below that vma).
OK, NOVMA, LOCKED, HOLE, HOLE_LOCKED = 0, 1, 2, 3, 4
VMA_KINDS = {
    OK: "ok",
    NOVMA: "no vma",
    LOCKED: "VM_LOCKED",
    HOLE: "hole",
    HOLE_LOCKED: "hole below VM_LOCKED",
}
# How a path stops: not at all, or like impl.kernel's faults.
NO_FAULT, OOPS, BUG, DEADLOCK = 0, 1, 2, 3
FAULT_NAMES = {OOPS: "Oops", BUG: "BUG", DEADLOCK: "deadlock"}


@dataclass(frozen=True)
class State:
    # the page
    pfn: Any
    valid: Any
    reserved: Any
    locked: Any
    mapping: Any
    chainlock: Any
    referenced: Any
    dirty: Any
    swapcache: Any
    index: Any
    count: Any
    direct: Any
    word: Any
    wpte: Any
    # the slab's nodes
    nxt: Any
    ptep: Any
    live: Any
    # ptes, mms, swap, statistics
    pk: Any
    pt: Any
    py: Any
    pd: Any
    pmm: Any
    rss: Any
    swap: Any
    nr: Any
    # environment
    busy: Any
    vk: Any
    fail_next: Any
    # fresh nodes pte_chain_alloc hands out (not live, not NULL, distinct)
    fresh1: Any
    fresh2: Any
    fault: Any
    # ghosts
    n: Any
    nd: Any
    npos: Any
    ppos: Any
    other: Any
    base: Any
    nr_other: Any

    def but(self, **changes: Any) -> State:
        return replace(self, **changes)


_SORTS = {
    "nxt": "int",
    "ptep": "int",
    "live": "bool",
    "pk": "int",
    "pt": "int",
    "py": "bool",
    "pd": "bool",
    "pmm": "int",
    "rss": "int",
    "swap": "int",
    "busy": "bool",
    "vk": "int",
    "nd": "int",
    "npos": "int",
    "ppos": "int",
    "other": "bool",
}
_BOOLS = {"valid", "reserved", "locked", "mapping", "chainlock", "referenced", "dirty", "swapcache"}
_BOOLS |= {"direct", "wpte"}


def fresh(tag: str) -> State:
    """A state of fresh z3 constants named ``tag.field``."""
    vals: dict[str, Any] = {}
    for f in fields(State):
        name = f"{tag}.{f.name}"
        if f.name in _SORTS:
            vals[f.name] = z3.Array(name, z3.IntSort(), _sort(_SORTS[f.name]))
        elif f.name in _BOOLS:
            vals[f.name] = z3.Bool(name)
        else:
            vals[f.name] = z3.Int(name)
    return State(**vals)


def term(x: Any) -> Any:
    """A z3 term for a Python constant (bool, int) or a term."""
    if isinstance(x, bool):
        return z3.BoolVal(x)
    if isinstance(x, int):
        return z3.IntVal(x)
    return x


def cond(c: Any, a: Any, b: Any) -> Any:
    return a if a is b else z3.If(c, term(a), term(b))


def ite(c: Any, a: State, b: State) -> State:
    """The state that is ``a`` where ``c`` holds and ``b`` elsewhere."""
    return State(**{f.name: cond(c, getattr(a, f.name), getattr(b, f.name)) for f in fields(State)})


# ---------------------------------------------------------------- α, in z3


def normal(s: State) -> z3.BoolRef:
    return z3.And(s.valid, z3.Not(s.reserved))


def maps_page(s: State, p: Any) -> z3.BoolRef:
    return z3.And(s.pk[p] == PAGE, s.pt[p] == s.pfn)


def spec_outcome(s: State, p: Any) -> z3.ArithRef:
    """env_unmap_outcome: AGAIN when the lock is busy, FAIL when no vma
    contains the address or it is VM_LOCKED, else SUCCESS."""
    return z3.If(s.busy[s.pmm[p]], 1, z3.If(s.vk[p] == OK, 0, 2))


# ---------------------------------------------------------------- concrete states


@dataclass
class Ids:
    """The integer ids a concrete kernel's objects get in the encoding."""

    ptes: dict[str, int]
    mms: dict[str, int]
    nodes: dict[int, int]  # id(PteChain) -> node id
    node_objs: dict[int, PteChain]

    def node(self, obj: PteChain) -> int:
        key = id(obj)
        if key not in self.nodes:
            self.nodes[key] = len(self.nodes) + 1
            self.node_objs[key] = obj
        return self.nodes[key]

    def word(self, obj: object) -> int:
        if isinstance(obj, Pte):
            return self.ptes[obj.name]
        if isinstance(obj, PteChain):
            return self.node(obj)
        return NULL


def _sort(kind: str) -> z3.SortRef:
    """Sorts are made when used: each obligation runs in a fresh z3 context."""
    return z3.IntSort() if kind == "int" else z3.BoolSort()


def _array(kind: str, default: Any, items: dict[int, Any]) -> Any:
    arr = z3.K(z3.IntSort(), default)
    for key, value in sorted(items.items()):
        arr = z3.Store(arr, key, value)
    return arr


def vma_kind(pte: Pte) -> int:
    vma = find_vma(pte.mm, pte.address)
    if vma is None:
        return NOVMA
    locked = bool(vma.vm_flags & VM_LOCKED)
    if vma.vm_start <= pte.address:
        return LOCKED if locked else OK
    return HOLE_LOCKED if locked else HOLE


def from_kernel(k: Kernel, page: Page) -> tuple[State, Ids]:
    """The encoding of concrete kernel ``k`` focused on ``page``.

    Ghosts are computed by walking the chain (n, nd, npos, ppos) and from
    the world (base count, other pages' nodes and entries).
    """
    ids = Ids({name: i + 1 for i, name in enumerate(k.ptes)}, {n: i + 1 for i, n in enumerate(k.mms)}, {}, {})
    live = k.pte_chain_cache.live if k.pte_chain_cache else []
    for obj in live:
        ids.node(obj)
    entries: list[int] = []
    nodes: list[int] = []
    if PageDirect(page) and isinstance(page.pte.word, Pte):
        entries = [ids.ptes[page.pte.word.name]]
    elif isinstance(page.pte.word, PteChain):
        for node in chain_nodes(k, page):
            nodes.append(ids.node(node))
            entries.append(ids.word(node.ptep))
    other: dict[int, bool] = {}
    nr_other = 0
    for q in k.mem_map.values():
        if q is not page and isinstance(q.pte.word, PteChain) and not PageDirect(q):
            for node in chain_nodes(k, q):
                other[ids.node(node)] = True
                nr_other += 1
        elif q is not page and PageDirect(q):
            nr_other += 1
    nxt = {ids.nodes[key]: ids.word(obj.next) for key, obj in list(ids.node_objs.items())}
    ptep = {ids.nodes[key]: ids.word(obj.ptep) for key, obj in list(ids.node_objs.items())}
    top = max([0, *ids.nodes.values()])
    ptes = list(k.ptes.values())

    def per_pte(fn: Any) -> dict[int, Any]:
        return {ids.ptes[p.name]: fn(p) for p in ptes}

    s = State(
        pfn=z3.IntVal(page.pfn),
        valid=z3.BoolVal(k.pfn_valid(page.pfn)),
        reserved=z3.BoolVal(PageReserved(page)),
        locked=z3.BoolVal(PageLocked(page)),
        mapping=z3.BoolVal(page.mapping is not None),
        chainlock=z3.BoolVal(test_flag(page, PG_chainlock)),
        referenced=z3.BoolVal(test_flag(page, PG_referenced)),
        dirty=z3.BoolVal(PageDirty(page)),
        swapcache=z3.BoolVal(PageSwapCache(page)),
        index=z3.IntVal(page.index),
        count=z3.IntVal(page.count),
        direct=z3.BoolVal(PageDirect(page)),
        word=z3.IntVal(ids.word(page.pte.word)),
        wpte=z3.BoolVal(isinstance(page.pte.word, Pte)),
        nxt=_array("int", 0, nxt),
        ptep=_array("int", 0, ptep),
        live=_array("bool", False, {ids.node(o): True for o in live}),
        pk=_array(
            "int",
            NONE,
            per_pte(lambda p: PAGE if p.val.present else SWAP if p.val.swap is not None else NONE),
        ),
        pt=_array("int", 0, per_pte(lambda p: p.val.pfn if p.val.present else p.val.swap or 0)),
        py=_array("bool", False, per_pte(lambda p: p.val.young)),
        pd=_array("bool", False, per_pte(lambda p: p.val.dirty)),
        pmm=_array("int", 0, per_pte(lambda p: ids.mms[p.mm.name])),
        rss=_array("int", 0, {ids.mms[name]: mm.rss for name, mm in k.mms.items()}),
        swap=_array("int", 0, dict(k.swap_map)),
        nr=z3.IntVal(k.page_state.nr_reverse_maps),
        busy=_array(
            "bool", False, {ids.mms[n]: mm.page_table_lock.holder is not None for n, mm in k.mms.items()}
        ),
        vk=_array("int", OK, per_pte(vma_kind)),
        fail_next=z3.IntVal(k.pte_chain_cache.fail_next if k.pte_chain_cache else 0),
        fresh1=z3.IntVal(top + 1),
        fresh2=z3.IntVal(top + 2),
        fault=z3.IntVal(NO_FAULT),
        n=z3.IntVal(len(entries)),
        nd=_array("int", 0, dict(enumerate(nodes))),
        npos=_array("int", -1, {x: i for i, x in enumerate(nodes)}),
        ppos=_array("int", -1, {p: i for i, p in enumerate(entries)}),
        other=_array("bool", False, other),
        base=z3.IntVal(k.base_count.get(page.pfn, 0)),
        nr_other=z3.IntVal(nr_other),
    )
    return s, ids


def evaluate(value: Any) -> Any:
    """The Python value of a ground z3 term."""
    v = z3.simplify(term(value))
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_int_value(v):
        return v.as_long()
    raise ValueError(f"not a ground value: {v}")


def walk_chain(s: State, limit: int) -> list[int] | None:
    """Node ids from the page's word along ``nxt`` (None when it loops)."""
    out = []
    x = evaluate(s.word)
    while x != NULL:
        if len(out) > limit:
            return None
        out.append(x)
        x = evaluate(s.nxt[x])
    return out
