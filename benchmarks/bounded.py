"""Bounded unrolling of try_to_unmap in z3: every chain of exactly N entries.

This is the baseline the unbounded (inductive) proof is measured against.
The loop of ``try_to_unmap`` is unrolled N times over a symbolic chain:
symbolic node ids (distinct, non-NULL) linked head to NULL through a
symbolic ``next`` array, distinct symbolic ptes, and a symbolic
try_to_unmap_one outcome (SUCCESS, AGAIN, FAIL) per pte, the environment's
choice.  N = 1 is a direct page.  The property is the reverse-map part of
``spec.ops.unmap`` plus memory safety of the chain:

- the loop has ended after N steps (the unwinding assertion);
- the reverse map afterwards is exactly the ptes whose outcome was not
  SUCCESS (a one-entry chain collapsed to direct, an empty one NULL), and no
  reachable node is freed;
- every node is freed at most once, and every SUCCESS entry's node is freed;
- nr_reverse_maps went down by the number of SUCCESS entries;
- the answer is SUCCESS when nothing stayed, else the outcome of an entry
  that stayed.

The encoding is written by hand from impl/ (``FixedRmap.try_to_unmap`` and,
for the seed, ``SeedRmap.try_to_unmap``); ``agrees_with_impl`` checks it
against the Python on every outcome vector of short chains before anything
is timed, so the thing timed is the thing that runs.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import z3

from impl.kernel import SWAP_AGAIN, SWAP_FAIL, SWAP_NAMES, SWAP_SUCCESS
from impl.trace import Session

NULL = 0
OUTCOMES = (SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL)


@dataclass(frozen=True)
class Unrolled:
    hypothesis: z3.BoolRef
    properties: dict[str, z3.BoolRef]
    nodes: list[z3.ArithRef]
    pte_of: z3.ArrayRef
    outcome_of: z3.ArrayRef
    ret: z3.ArithRef
    kept_ptes: list[z3.ArithRef]  # the reverse map afterwards, NULL-padded
    nr_delta: z3.ArithRef


def unroll(n: int, variant: str) -> Unrolled:
    """try_to_unmap on a page with an n-entry reverse map, unrolled."""
    assert n >= 1 and variant in ("seed", "fixed")
    nodes = [z3.Int(f"node{i}") for i in range(n)]
    nxt0 = z3.Array("next", z3.IntSort(), z3.IntSort())
    pte_of = z3.Array("ptep", z3.IntSort(), z3.IntSort())
    outcome_of = z3.Array("outcome", z3.IntSort(), z3.IntSort())
    ptes = [pte_of[c] for c in nodes]
    hyp = [
        z3.Distinct(NULL, *nodes) if n > 1 else nodes[0] != NULL,
        z3.Distinct(NULL, *ptes) if n > 1 else ptes[0] != NULL,
        *(z3.Or([outcome_of[p] == o for o in OUTCOMES]) for p in ptes),
        *(nxt0[nodes[i]] == nodes[i + 1] for i in range(n - 1)),
        nxt0[nodes[-1]] == NULL,
    ]
    outcomes = [outcome_of[p] for p in ptes]
    succeeded = [o == SWAP_SUCCESS for o in outcomes]
    nsucc = z3.Sum([z3.If(s, 1, 0) for s in succeeded])
    if n == 1:
        # The direct page: try_to_unmap_one once; SUCCESS clears the pointer.
        ret = outcomes[0]
        kept = [z3.If(succeeded[0], NULL, ptes[0])]
        nr_delta = z3.If(succeeded[0], -1, 0) if variant == "fixed" else z3.IntVal(0)
        props = {
            "reverse map is the entries that stayed": z3.BoolVal(True),
            "nr_reverse_maps drops by the unmapped entries": nr_delta == -nsucc,
            "answer": ret == outcomes[0],
        }
        return Unrolled(z3.And(hyp), props, nodes, pte_of, outcome_of, ret, kept, nr_delta)

    nxt, freed = nxt0, z3.K(z3.IntSort(), z3.BoolVal(False))
    head, pc, prev = nodes[0], nodes[0], z3.IntVal(NULL)
    ret, nr_delta, double_free = z3.IntVal(SWAP_SUCCESS), z3.IntVal(0), z3.BoolVal(False)
    for _ in range(n):
        active = pc != NULL
        next_pc = nxt[pc]
        result = outcome_of[pte_of[pc]]
        free = z3.And(active, result == SWAP_SUCCESS)
        # pte_chain_free(pc, prev_pc, page)
        double_free = z3.Or(double_free, z3.And(free, freed[pc]))
        nxt = z3.If(z3.And(free, prev != NULL), z3.Store(nxt, prev, nxt[pc]), nxt)
        head = z3.If(z3.And(free, prev == NULL), nxt[pc], head)
        freed = z3.If(free, z3.Store(freed, pc, True), freed)
        if variant == "fixed":
            nr_delta = z3.If(free, nr_delta - 1, nr_delta)  # FIX(F2)
            stays = z3.And(active, result != SWAP_SUCCESS)  # FIX(F1)
            prev = z3.If(stays, pc, prev)
            ret = z3.If(stays, result, ret)
        else:
            prev = z3.If(z3.And(active, result == SWAP_AGAIN), pc, prev)
            ret = z3.If(z3.And(active, result != SWAP_SUCCESS), result, ret)
        pc = z3.If(active, next_pc, pc)
    # Collapse a one-entry chain to direct.
    collapse = z3.And(head != NULL, nxt[head] == NULL)
    double_free = z3.Or(double_free, z3.And(collapse, freed[head]))
    freed = z3.If(collapse, z3.Store(freed, head, True), freed)
    direct_pte = pte_of[head]
    walk = [head]
    for _ in range(n):
        walk.append(z3.If(walk[-1] == NULL, NULL, nxt[walk[-1]]))
    stayed = [z3.Not(s) for s in succeeded]
    on_chain = [z3.And(z3.Not(collapse), z3.Or([w == c for w in walk[:n]])) for c in nodes]
    kept = [
        z3.If(collapse, z3.If(i == 0, direct_pte, NULL), z3.If(walk[i] != NULL, pte_of[walk[i]], NULL))
        for i in range(n)
    ]
    props = {
        "the loop ends within n steps": pc == NULL,
        "reverse map is the entries that stayed": z3.And(
            z3.Or(collapse, walk[n] == NULL),
            *(z3.Implies(collapse, (direct_pte == p) == st) for p, st in zip(ptes, stayed, strict=True)),
            *(z3.Implies(z3.Not(collapse), oc == st) for oc, st in zip(on_chain, stayed, strict=True)),
        ),
        "no reachable node is freed": z3.And(
            [z3.Implies(z3.And(z3.Not(collapse), w != NULL), z3.Not(freed[w])) for w in walk[:n]]
        ),
        "nodes of unmapped entries are freed, none twice": z3.And(
            z3.Not(double_free), *(z3.Implies(s, freed[c]) for s, c in zip(succeeded, nodes, strict=True))
        ),
        "nr_reverse_maps drops by the unmapped entries": nr_delta == -nsucc,
        "answer": z3.If(
            nsucc == n,
            ret == SWAP_SUCCESS,
            z3.Or([z3.And(st, ret == o) for st, o in zip(stayed, outcomes, strict=True)]),
        ),
    }
    return Unrolled(z3.And(hyp), props, nodes, pte_of, outcome_of, ret, kept, nr_delta)


@dataclass(frozen=True)
class BoundedResult:
    n: int
    variant: str
    status: str  # "proved", "counterexample", "timeout", "unknown", "vacuous"
    seconds: float
    failing: str | None = None  # the first property a counterexample breaks


def check(n: int, variant: str, timeout: float) -> BoundedResult:
    """Prove the property for every n-entry chain, or find a counterexample."""
    start = time.perf_counter()
    u = unroll(n, variant)
    solver = z3.Solver()
    solver.set(timeout=int(timeout * 1000))
    solver.add(u.hypothesis)
    if solver.check() != z3.sat:  # the hypotheses must describe some chain
        return BoundedResult(n, variant, "vacuous", time.perf_counter() - start)
    solver.add(z3.Not(z3.And(list(u.properties.values()))))
    answer = solver.check()
    seconds = time.perf_counter() - start
    if answer == z3.unsat:
        return BoundedResult(n, variant, "proved", seconds)
    if answer == z3.unknown:
        timed_out = solver.reason_unknown() in ("timeout", "canceled")
        return BoundedResult(n, variant, "timeout" if timed_out else "unknown", seconds)
    model = solver.model()
    failing = next(name for name, p in u.properties.items() if z3.is_false(model.eval(p, True)))
    return BoundedResult(n, variant, "counterexample", seconds, failing)


# ------------------------------------------------------------ the Python check


def _impl_run(variant: str, outcomes: tuple[int, ...]) -> tuple[list[str], list[str], str, int]:
    """try_to_unmap on the executable model: a page mapped by one pte per
    mm, the i-th chain entry answering outcomes[i].  (chain before, reverse
    map after, answer, change of nr_reverse_maps)."""
    n = len(outcomes)
    s = Session(variant)
    mms = [{"name": f"M{i}", "vmas": [{"start": 0, "end": 0x10000}]} for i in range(n)]
    ptes = [{"name": f"p{i}", "mm": f"M{i}", "address": 0x1000} for i in range(n)]
    s.apply({"op": "world", "pages": [{"pfn": 1, "count": 1, "mapping": "file"}], "mms": mms, "ptes": ptes})
    for i in range(n):
        assert s.apply({"op": "map", "pte": f"p{i}", "pfn": 1})["result"] == "mapped"
    record = s.apply({"op": "set_page", "pfn": 1, "locked": True})
    chain = record["pages"][0]["rmap"]
    nr_before = record["nr_reverse_maps"]
    for name, outcome in zip(chain, outcomes, strict=True):
        mm = f"M{name[1:]}"
        if outcome == SWAP_AGAIN:
            s.apply({"op": "lock", "mm": mm})
        elif outcome == SWAP_FAIL:
            s.apply({"op": "mlock", "mm": mm, "address": 0x1000})
    record = s.apply({"op": "try_to_unmap", "pfn": 1})
    assert record["fault"] is None, record["fault"]
    return chain, record["pages"][0]["rmap"], record["result"], record["nr_reverse_maps"] - nr_before


def agrees_with_impl(max_n: int = 4) -> int:
    """Check the encoding against impl/ on every outcome vector of every
    chain length up to max_n, both variants; answers the number of cases.

    Each case pins the symbolic chain to concrete nodes and outcomes, asks
    z3 for the (then unique) result, and compares reverse map, answer and
    nr_reverse_maps with what the executable model does.
    """
    cases = 0
    for variant in ("seed", "fixed"):
        for n in range(1, max_n + 1):
            u = unroll(n, variant)
            for outcomes in itertools.product(OUTCOMES, repeat=n):
                chain, after, answer, nr_delta = _impl_run(variant, outcomes)
                solver = z3.Solver()
                solver.add(u.hypothesis)
                for i, (c, o) in enumerate(zip(u.nodes, outcomes, strict=True)):
                    solver.add(c == i + 1, u.pte_of[c] == i + 1, u.outcome_of[u.pte_of[c]] == o)
                assert solver.check() == z3.sat, (variant, outcomes)
                m = solver.model()
                kept = [m.eval(p, True).as_long() for p in u.kept_ptes]
                got: dict[str, Any] = {
                    "rmap": sorted(chain[p - 1] for p in kept if p != NULL),
                    "answer": SWAP_NAMES[m.eval(u.ret, True).as_long()],
                    "nr": m.eval(u.nr_delta, True).as_long(),
                }
                want = {"rmap": sorted(after), "answer": answer, "nr": nr_delta}
                assert got == want, f"{variant} {outcomes}: z3 {got}, impl {want}"
                cases += 1
    return cases
