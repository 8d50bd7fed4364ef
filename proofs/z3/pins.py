"""Small concrete universes, to pin a symbolic state to for satisfiability
checks and for the bounded counterexample search.

``pin_chain(h, n)`` makes the focus page's reverse map the ptes 1..n at
positions 0..n-1: direct when n == 1, else on pte_chain nodes -11, -12, ...
(head first), every ghost of the chain concrete and no other page's
nodes.  Every array of the state is pinned to finite support: the ptes
1..n+1 and the mms 1..n+1 each get fresh constants for what they hold
(z3 still chooses them: the environment, the pte bits, the counters), and
everything else a constant.  Quantified invariants over such arrays are
decided at once, which is what makes the checks fast.
"""

from __future__ import annotations

from typing import Any

import z3

from impl.kernel import PG_direct
from proofs.z3.heap import FLAG_BITS, Heap

INT = z3.IntSort()
SLOT = 0x10000  # pte p's address: p * SLOT
SWAP_ENTRY = 7  # the one swap slot of a pinned world


def node_id(k: int) -> int:
    return -(11 + k)


def address(p: int) -> int:
    return p * SLOT


def _finite(default: Any, items: dict[int, Any]) -> Any:
    arr = z3.K(INT, default)
    for key, value in sorted(items.items()):
        arr = z3.Store(arr, key, value)
    return arr


def pin_chain(h: Heap, n: int, args: Any = None, tag: str = "pin") -> list[Any]:
    ptes = list(range(1, n + 1))
    universe = list(range(1, n + 2))
    nodes = [node_id(k) for k in range(n)] if n >= 2 else []
    t = f"{tag}{n}"
    c = lambda name, sort: z3.Const(f"{t}.{name}", sort)  # noqa: E731
    bv = z3.BitVecSort(FLAG_BITS)
    bools = lambda f: {p: c(f"{f}{p}", z3.BoolSort()) for p in universe}  # noqa: E731
    ints = lambda f: {p: c(f"{f}{p}", INT) for p in universe}  # noqa: E731
    holds_swap = bools("holds_swap")
    found, start, end, vflags = (
        bools("found"),
        ints("start"),
        ints("end"),
        {p: c(f"vflags{p}", bv) for p in universe},
    )
    ma, mb = z3.Int(f"{t}.m"), z3.Int(f"{t}.a")

    def by_address(values: dict[int, Any], default: Any) -> Any:
        body = default
        for p in reversed(universe):
            body = z3.If(mb == address(p), values[p], body)
        return z3.Lambda([ma, mb], body)

    out = [
        h["g.n"] == n,
        h["pte.present"] == _finite(z3.BoolVal(False), bools("present")),
        h["pte.pfn"] == _finite(z3.IntVal(0), ints("pfn")),
        h["pte.young"] == _finite(z3.BoolVal(False), bools("young")),
        h["pte.dirty"] == _finite(z3.BoolVal(False), bools("dirty")),
        h["pte.swap"] == _finite(z3.IntVal(-1), {p: z3.If(holds_swap[p], SWAP_ENTRY, -1) for p in universe}),
        h["pte.mm"] == _finite(z3.IntVal(1), ints("mm")),
        h["pte.address"] == _finite(z3.IntVal(0), {p: z3.IntVal(address(p)) for p in universe}),
        *[z3.And(v >= 1, v <= n + 1) for v in ints("mm").values()],
        h["mm.rss"] == _finite(z3.IntVal(0), ints("rss")),
        h["mm.lock"] == _finite(z3.IntVal(0), ints("lock")),
        *[z3.Or(v == 0, v == 2) for v in ints("lock").values()],
        h["vma.found"] == by_address(found, z3.BoolVal(False)),
        h["vma.start"] == by_address(start, z3.IntVal(0)),
        h["vma.end"] == by_address(end, z3.IntVal(0)),
        h["vma.flags"] == by_address(vflags, z3.BitVecVal(0, FLAG_BITS)),
        h["swap.count"] == _finite(z3.IntVal(0), {SWAP_ENTRY: c("swapcount", INT)}),
        h["mem.valid"] == z3.K(INT, z3.BoolVal(False)),
        h["g.other"] == z3.K(INT, z3.BoolVal(False)),
    ]
    nd, npos, pe, ppos, live, nxt, ptep = {}, {}, {}, {}, {}, {}, {}
    for k, p in enumerate(ptes):
        pe[k], ppos[p] = z3.IntVal(p), z3.IntVal(k)
    for k, x in enumerate(nodes):
        nd[k], npos[x], live[x] = z3.IntVal(x), z3.IntVal(k), z3.BoolVal(True)
        nxt[x], ptep[x] = z3.IntVal(nodes[k + 1] if k + 1 < n else 0), z3.IntVal(ptes[k])
    word = 1 if n == 1 else nodes[0] if nodes else 0
    out += [
        h["page.word"] == word,
        (z3.Extract(PG_direct, PG_direct, h["page.flags"]) == 1) == (n == 1),
        h["g.nd"] == _finite(z3.IntVal(0), nd),
        h["g.npos"] == _finite(z3.IntVal(-1), npos),
        h["g.pe"] == _finite(z3.IntVal(0), pe),
        h["g.ppos"] == _finite(z3.IntVal(-1), ppos),
        h["slab.live"] == _finite(z3.BoolVal(False), live),
        h["node.next"] == _finite(z3.IntVal(0), nxt),
        h["node.ptep"] == _finite(z3.IntVal(0), ptep),
        h["page.index"] == SWAP_ENTRY,
    ]
    if args is not None and getattr(args, "t", None) is not None:
        out.append(z3.And(args.t >= 1, args.t <= n + 1))
    return out
