"""Bounded counterexample search for the chain walks (a cross-check, not a proof).

When an inductive step of a walk fails, its counterexample to induction
need not be reachable.  This search looks for a reachable one instead: a
pre-state pinned to a chain of n <= BOUND entries (proofs.z3.legacy.invariants
.pin_chain), the walk unrolled n times (proofs.z3.legacy.code, the same
transitions the proofs use), and the spec's answer computed by explicit
sums over the n entries; any difference is a candidate that
proofs.z3.legacy.run decodes into a trace and replays on impl/.  Kinds of
difference are tried in a fixed order, so the first trace shows one thing.
"""

from __future__ import annotations

from typing import Any

import z3

from impl.kernel import SWAP_SUCCESS
from proofs.z3.legacy import code
from proofs.z3.legacy import invariants as inv
from proofs.z3.legacy.state import NULL, PAGE, State, normal, spec_outcome

BOUND = 3


def _on_chain(s: State, n: int, p: Any) -> Any:
    """p is recorded in s's reverse map, walking at most n + 1 nodes."""
    node, hits = s.word, []
    for _ in range(n + 1):
        hits.append(z3.And(node != NULL, s.ptep[node] == p))
        node = s.nxt[node]
    return z3.If(s.direct, p == s.word, z3.Or(*hits))


def _reachable(s: State, n: int, x: Any) -> Any:
    node, hits = s.word, []
    for _ in range(n + 1):
        hits.append(z3.And(node != NULL, node == x))
        node = s.nxt[node]
    return z3.And(z3.Not(s.direct), z3.Or(*hits))


def unmap_pre(s: State, n: int) -> list[Any]:
    """try_to_unmap's precondition on the pinned chain, without quantifiers:
    pin_chain makes the chain well formed; ptes 1..n map the page."""
    return [
        *inv.pin_chain(s, n),
        inv.world_facts(s),
        normal(s),
        s.locked,
        s.mapping,
        z3.Not(s.chainlock),
        s.nr == s.nr_other + n,
        z3.Implies(s.swapcache, s.swap[s.index] > 0),
        *[z3.And(s.pk[p] == PAGE, s.pt[p] == s.pfn) for p in range(1, n + 1)],
    ]


def unmap_differences(s0: State, n: int, variant: str) -> list[tuple[str, Any]]:
    """How try_to_unmap on s0 (a chain of n entries: ptes 1..n, nodes
    11..10+n) can differ from spec.ops.unmap, in the order they are tried."""
    s1, r = code.try_to_unmap(s0, variant, n)
    ptes = range(1, n + 1)
    stays = {p: spec_outcome(s0, p) != SWAP_SUCCESS for p in ptes}
    agree = z3.And(*[code.unmap_outcome(s0, p, variant) == spec_outcome(s0, p) for p in ptes])
    removed = z3.Sum([z3.If(stays[p], 0, 1) for p in ptes])
    lost = z3.Or(*[_on_chain(s1, n, p) != stays[p] for p in ptes])
    leaked = z3.Or(*[z3.And(s1.live[10 + k], z3.Not(_reachable(s1, n, z3.IntVal(10 + k)))) for k in ptes])
    return [
        ("an entry lost or kept against its outcome", z3.And(agree, z3.Or(lost, leaked))),
        ("a pte unmapped against its outcome", z3.Not(agree)),
        ("nr_reverse_maps", s1.nr != s0.nr - removed),
        ("a fault", s1.fault != 0),
        ("the result", z3.And(r == SWAP_SUCCESS, z3.Or(*stays.values()))),
    ]
