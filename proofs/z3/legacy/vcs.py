"""The verification conditions of every obligation, one per program path.

For each function (and caller path) and property this builds the VCs
that together prove it for a symbolic pre-state of any size: straight-line
paths directly, chain walks by an inductive loop invariant (initiation,
one consecution VC per iteration case, exit implies the postcondition).
The transitions come from proofs.z3.legacy.code, the invariants from
proofs.z3.legacy.invariants, the spec from proofs.z3.legacy.spec; the ghost chain of the
post-state (n, nd, npos, ppos) is given explicitly per path, and the
representation invariant then checks that it describes the real chain.

Properties (proofs.obligation.PROPERTIES):
- "invariant preservation": the invariant conjuncts hold after the path.
- "impl refines spec": α(post) is the spec operation's result from α(pre),
  and the function's answer is one the spec allows.
- "spec refines impl": under the spec's precondition the function neither
  BUGs, oopses nor deadlocks (its post is then the spec's, by the above).
- "balanced counts": each counter moves by exactly what it counts moves.
- "return value": try_to_unmap's answer, as shrink_cache reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import z3

from impl.kernel import SWAP_AGAIN, SWAP_FAIL, SWAP_MAP_MAX, SWAP_SUCCESS
from proofs.z3.legacy import code
from proofs.z3.legacy import invariants as inv
from proofs.z3.legacy.code import Walk
from proofs.z3.legacy.spec import (
    abstract,
    alpha_goals,
    spec_referenced,
    spec_rmap_add,
    spec_rmap_remove,
    spec_unmap,
)
from proofs.z3.legacy.state import (
    NULL,
    OK,
    PAGE,
    SWAP,
    VMA_KINDS,
    State,
    fresh,
    maps_page,
    normal,
    spec_outcome,
)
from proofs.z3.prover import VC

Goals = list[tuple[str, Any]]
PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN = (
    "invariant preservation",
    "impl refines spec",
    "spec refines impl",
    "balanced counts",
    "return value",
)
CONTRACT = "contract"  # a callee's summary, proven inside its caller's obligation
IMPL_AND_GHOSTS = tuple(f.name for f in fields(State))
# What reclaim's obligation for a property needs of its callees.
RECLAIM_NEEDS = {
    PRESERVE: ((PRESERVE,), (PRESERVE,)),
    REFINE: ((PRESERVE, REFINE), (REFINE,)),
    SPEC_REFINES: ((PRESERVE,), (SPEC_REFINES,)),
    COUNTS: ((PRESERVE, COUNTS), (COUNTS,)),
    RETURN: ((PRESERVE,), (RETURN,)),
}
# Fields a callee never writes: the frame of its contract.
UNMAP_FRAME = (
    "chainlock",
    "locked",
    "mapping",
    "reserved",
    "valid",
    "pfn",
    "swapcache",
    "index",
    "busy",
    "vk",
    "pmm",
    "fail_next",
    "referenced",
    "base",
    "nr_other",
    "other",
)
REFERENCED_FRAME = (
    *UNMAP_FRAME[:-4],
    "count",
    "rss",
    "swap",
    "nr",
    "dirty",
    "pk",
    "pt",
    "pd",
    "word",
    "wpte",
    "direct",
    "nxt",
    "ptep",
    "live",
    "base",
    "nr_other",
    "other",
)


def facts(conjuncts: inv.Conjuncts) -> list[Any]:
    return [term for _, term in conjuncts]


def no_fault(s: State) -> Goals:
    return [("no BUG, oops or deadlock", s.fault == 0)]


def unchanged(s0: State, s1: State, names: tuple[str, ...]) -> Goals:
    return [(f"{n} unchanged", getattr(s1, n) == getattr(s0, n)) for n in names]


def objects_balanced(s: State) -> Goals:
    return [c for c in inv.structure(s) if c[0] == "count_pte_chain_objects"]


def small(
    s0: State,
    n: int,
    env: int | list[int] = SWAP_SUCCESS,
    more: tuple[Any, ...] = (),
    unrecorded: bool = False,
    cleared: int | None = None,
) -> dict[str, list[Any]]:
    """The pinned small case of a VC: concrete for its consistency check,
    with a free environment for its counterexample search."""
    return {
        "pins": [*inv.pin_chain(s0, n, env, unrecorded=unrecorded, cleared=cleared), *more],
        "search": [*inv.pin_chain(s0, n), *more],
    }


@dataclass
class Problem:
    """An obligation's VCs, with the pre-state and argument they speak of
    (a counterexample is decoded from their values)."""

    vcs: list[VC]
    state: State
    arg: Any = None


@dataclass
class Path:
    """One program path: its guard, the post-state (ghosts filled in) and answer."""

    name: str
    guard: Any
    post: State
    result: Any = 0
    length: int | None = None  # the chain length of its pinned small case
    arg: int | None = None  # the pte argument in the pinned case (page_remove_rmap's)


def add_paths(
    s0: State, s1: State, t: Any, result: Any, nomem: Any, reserved_length: int | None = None
) -> list[Path]:
    """page_add_rmap's five paths from ``s0`` to ``s1`` (adding pte ``t``),
    each with the ghost chain it leaves; ``nomem`` is the allocation
    failure's guard as the caller states it.  Shared by page_add_rmap's
    obligations and the fault path's, which runs it."""
    head = s1.word
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    fits = z3.And(normal(s0), s0.fail_next == 0)
    return [
        Path("reserved or invalid page", z3.Not(normal(s0)), s1, result, reserved_length),
        Path("allocation fails", nomem, s1, result, 2),
        Path(
            "direct page becomes a chain",
            z3.And(fits, s0.direct),
            s1.but(
                n=2,
                nd=z3.Store(z3.Store(s0.nd, 0, head), 1, s1.nxt[head]),
                npos=z3.Store(z3.Store(s0.npos, head, 0), s1.nxt[head], 1),
                ppos=z3.Store(z3.Store(s0.ppos, t, 0), s0.word, 1),
            ),
            result,
            1,
        ),
        Path(
            "push on a chain",
            z3.And(fits, z3.Not(s0.direct), s0.word != NULL),
            s1.but(
                n=s0.n + 1,
                nd=z3.Lambda([k], z3.If(k == 0, head, s0.nd[k - 1])),
                npos=z3.Lambda([x], z3.If(x == head, 0, z3.If(s0.npos[x] >= 0, s0.npos[x] + 1, -1))),
                ppos=z3.Lambda([p], z3.If(p == t, 0, z3.If(s0.ppos[p] >= 0, s0.ppos[p] + 1, -1))),
            ),
            result,
            3,
        ),
        Path(
            "unmapped page becomes direct",
            z3.And(normal(s0), z3.Not(s0.direct), s0.word == NULL),
            s1.but(n=1, ppos=z3.Store(s0.ppos, t, 0)),
            result,
            0,
        ),
    ]


# ------------------------------------------------------------ page_add_rmap


def add_vcs(variant: str, prop: str) -> Problem:
    s0, t = fresh("s"), z3.Int("t")
    pre = [
        inv.world_facts(s0),
        t != NULL,
        maps_page(s0, t),
        s0.ppos[t] == -1,
        *facts(inv.structure(s0)),
        *facts(inv.locks(s0)),
        *facts(inv.sound(s0)),
        *facts(inv.complete(s0, but=t)),
        *facts(inv.nr_count(s0)),
    ]
    s1, r = code.page_add_rmap(s0, t, variant)
    nomem = z3.And(normal(s0), s0.fail_next > 0, z3.Or(s0.direct, s0.word != NULL))
    paths = add_paths(s0, s1, t, r, nomem)
    want_result, want = spec_rmap_add(s0, t)

    def goals(path: Path) -> tuple[list[Any], Goals]:
        s = path.post
        if prop == PRESERVE:
            # Nothing added (no memory): t stays unrecorded, the caller backs out.
            added = path.name not in ("allocation fails", "reserved or invalid page")
            return [], [
                *no_fault(s),
                *inv.structure(s),
                *inv.locks(s),
                *inv.sound(s),
                *inv.complete(s, but=None if added else t),
                *inv.nr_count(s),
            ]
        if prop == REFINE:
            return [], [
                *no_fault(s),
                *inv.structure(s),
                ("result", path.result == want_result),
                *alpha_goals(s, want),
            ]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        assert prop == COUNTS
        return [s.fault == 0], [
            ("count_nr_reverse_maps", s.nr - s0.nr == s.n - s0.n),
            *objects_balanced(s),
            *unchanged(s0, s, ("count", "rss", "swap")),
        ]

    return Problem(_path_vcs(s0, pre, paths, goals, t), s0, t)


def _path_vcs(
    s0: State,
    pre: list[Any],
    paths: list[Path],
    goals: Callable[[Path], tuple[list[Any], Goals]],
    arg: Any = None,
) -> list[VC]:
    """One VC per path; ``arg``: the pte argument, pinned to pte n+1 (unrecorded)."""
    out = []
    for path in paths:
        extra, gs = goals(path)
        n = path.length
        if n is None:
            pins = {}
        elif path.arg is not None:  # page_remove_rmap: t is recorded (or not) but cleared
            pins = small(s0, n, more=(arg == path.arg,), cleared=path.arg)
        else:  # page_add_rmap: t is pte n+1, mapped and unrecorded
            pins = small(s0, n, more=(arg == n + 1,), unrecorded=True)
        out.append(VC(path.name, [*pre, path.guard], gs, assume=extra, **pins))
    return out


# ------------------------------------------------------------ page_remove_rmap


def remove_pre(s0: State, t: Any) -> Goals:
    """page_remove_rmap's precondition: t was cleared by its caller first."""
    return [
        ("t is a pte", t != NULL),
        ("t no longer maps the page", z3.Not(maps_page(s0, t))),
        *inv.structure(s0),
        *inv.locks(s0),
        *inv.sound(s0, but=t),
        *inv.complete(s0),
        *inv.nr_count(s0),
    ]


# Fields page_remove_rmap never writes (its contract's frame, for zap).
REMOVE_FRAME = (
    "pfn",
    "valid",
    "reserved",
    "locked",
    "mapping",
    "referenced",
    "dirty",
    "swapcache",
    "index",
    "count",
    "pk",
    "pt",
    "py",
    "pd",
    "pmm",
    "rss",
    "swap",
    "busy",
    "vk",
    "fail_next",
    "other",
    "base",
    "nr_other",
)


def remove_vcs(variant: str, prop: str, found: bool = False) -> Problem:
    """``found``: only as zap calls it, with t in the reverse map; the paths
    that do not find t are then dead (checked, but not for consistency)."""
    s0, t = fresh("s"), z3.Int("t")
    recorded = z3.Or(s0.ppos[t] >= 0, z3.Not(normal(s0)))  # zap's case
    pre = [inv.world_facts(s0), *facts(remove_pre(s0, t)), *([recorded] if found else [])]
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    want = spec_rmap_remove(s0, t)

    def goals(s: State, extra: list[Any] | None = None) -> tuple[list[Any], Goals]:
        if prop == PRESERVE:
            return [], [
                *no_fault(s),
                *inv.structure(s),
                *inv.locks(s),
                *inv.sound(s),
                *inv.complete(s),
                *inv.nr_count(s),
            ]
        if prop == REFINE:
            return [], [*no_fault(s), *inv.structure(s), *alpha_goals(s, want)]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        if prop == CONTRACT:
            return [], remove_contract(s0, s, t)
        assert prop == COUNTS
        return [s.fault == 0], [
            ("count_nr_reverse_maps", s.nr - s0.nr == s.n - s0.n),
            *objects_balanced(s),
            *unchanged(s0, s, ("count", "rss", "swap")),
        ]

    locked = code.chain_lock(s0)
    direct = code.remove_direct(locked, t, variant)
    hit = s0.word == t
    paths = [
        Path("reserved or invalid page", code.remove_skip(s0), s0),
        Path(
            "direct page, its pte",
            z3.And(z3.Not(code.remove_skip(s0)), s0.direct, hit),
            direct.but(n=0, ppos=z3.Store(s0.ppos, t, -1)),
            length=1,
            arg=1,
        ),
        Path(
            "direct page, another pte",
            z3.And(z3.Not(code.remove_skip(s0)), s0.direct, z3.Not(hit)),
            direct,
            length=1,
            arg=5,
        ),
    ]
    out = _path_vcs(s0, pre, paths, lambda path: goals(path.post), t)
    if found:
        for vc in out:
            vc.reachable = vc.name != "direct page, another pte"

    # The chain walk: nothing changes until t is found at position i.
    i, pc, prev = z3.Int("i"), z3.Int("pc"), z3.Int("prev")
    walking = [*pre, z3.Not(code.remove_skip(s0)), z3.Not(s0.direct)]
    start = code.remove_start(s0)

    def invariant(w: Walk, at: Any) -> Goals:
        return [
            ("loop: position in range", z3.And(at >= 0, at <= s0.n)),
            ("loop: pc is the node at i", w.pc == z3.If(at < s0.n, s0.nd[at], NULL)),
            ("loop: prev is the node before", w.prev == z3.If(at > 0, s0.nd[at - 1], NULL)),
            ("loop: t is not before i", z3.Not(z3.And(s0.ppos[t] >= 0, s0.ppos[t] < at))),
        ]

    out.append(
        VC(
            "walk: initiation",
            walking,
            invariant(start, z3.IntVal(0)),
            **small(s0, 2, more=(t == 2,), cleared=2),
        )
    )
    w = Walk(start.s, pc, prev, z3.BoolVal(False))
    in_loop = [*walking, *facts(invariant(w, i)), pc != NULL]
    found, moved = code.remove_step(w, t)
    out.append(
        VC(
            "walk: step past another pte",
            [*in_loop, moved[0]],
            invariant(moved[1], i + 1),
            **small(s0, 3, more=(i == 1, pc == s0.nd[1], prev == s0.nd[0], t == 3), cleared=3),
        )
    )
    post = found[1].s
    last = z3.And(s0.n == 2)
    collapsed = post.but(
        n=1,
        npos=z3.K(z3.IntSort(), -1),
        ppos=z3.Lambda([p], z3.If(p == t, -1, z3.If(s0.ppos[p] >= 0, 0, -1))),
    )
    shrunk = post.but(
        n=s0.n - 1,
        nd=z3.Lambda([k], z3.If(k < i, s0.nd[k], s0.nd[k + 1])),
        npos=z3.Lambda([x], z3.If(x == pc, -1, z3.If(s0.npos[x] > i, s0.npos[x] - 1, s0.npos[x]))),
        ppos=z3.Lambda([p], z3.If(p == t, -1, z3.If(s0.ppos[p] > i, s0.ppos[p] - 1, s0.ppos[p]))),
    )
    for name, guard, s, pins in (
        (
            "walk: found, collapse to direct",
            last,
            collapsed,
            small(s0, 2, more=(i == 1, t == 2, pc == s0.nd[1], prev == s0.nd[0]), cleared=2),
        ),
        (
            "walk: found, chain stays",
            z3.Not(last),
            shrunk,
            small(s0, 3, more=(i == 1, t == 2, pc == s0.nd[1], prev == s0.nd[0]), cleared=2),
        ),
    ):
        extra, gs = goals(s)
        out.append(VC(name, [*in_loop, found[0], guard], gs, assume=extra, split=True, **pins))
    end = Walk(start.s, pc, prev, z3.BoolVal(False))
    extra, gs = goals(code.remove_exit(end, variant))
    out.append(
        VC(
            "walk: t not found",
            [*walking, *facts(invariant(end, i)), pc == NULL],
            gs,
            assume=extra,
            reachable=not found,
            **small(s0, 2, more=(i == 2, pc == NULL, prev == s0.nd[1], t == 5)),
        )
    )
    return Problem(out, s0, t)


# ------------------------------------------------------------ try_to_unmap


@dataclass
class Enumeration:
    """Sums along the chain of s0, position by position, as functions with
    recursive axioms on the position (z3 has no set cardinality):
    ``succ(j)`` unmapped entries among the first j, ``succm(m, j)`` those of
    mm m, ``dirt(j)`` the page's dirty bit after the first j."""

    s0: State
    variant: str
    succ_a: Any
    succm_a: Any
    dirt_a: Any

    @staticmethod
    def of(s0: State, variant: str) -> Enumeration:
        i = z3.IntSort()
        return Enumeration(
            s0,
            variant,
            z3.Array("succ", i, i),
            z3.Array("succm", i, i, i),
            z3.Array("dirt", i, z3.BoolSort()),
        )

    def succ(self, j: Any) -> Any:
        return self.succ_a[j]

    def succm(self, m: Any, j: Any) -> Any:
        return self.succm_a[m, j]

    def dirt(self, j: Any) -> Any:
        return self.dirt_a[j]

    def pins(self, outcomes: list[int]) -> list[Any]:
        """The sums of the pinned small case (pte j+1 at position j, in mm j+1)."""
        j, m = z3.Int("j"), z3.Int("m")

        def upto(k: int) -> tuple[int, Any]:
            gone = [q for q, o in enumerate(outcomes[:k], 1) if o == SWAP_SUCCESS]
            return len(gone), z3.Sum([z3.If(m == q, 1, 0) for q in gone]) if gone else z3.IntVal(0)

        succ, succm = upto(len(outcomes))
        succ_t, succm_t = z3.IntVal(succ), succm
        for k in range(len(outcomes) - 1, -1, -1):
            count, per_mm = upto(k)
            succ_t, succm_t = z3.If(j <= k, count, succ_t), z3.If(j <= k, per_mm, succm_t)
        return [
            self.succ_a == z3.Lambda([j], succ_t),
            self.succm_a == z3.Lambda([m, j], succm_t),
            self.dirt_a == z3.Lambda([j], self.s0.dirty),
        ]

    def pte(self, j: Any) -> Any:
        return self.s0.ptep[self.s0.nd[j]]

    def out(self, j: Any) -> Any:
        """try_to_unmap_one's answer for the entry at chain position j."""
        return code.unmap_outcome(self.s0, self.pte(j), self.variant)

    def axioms(self) -> list[Any]:
        s0, j, m = self.s0, z3.Int("j"), z3.Int("m")
        step = z3.And(j >= 0, j < s0.n)
        gone = self.out(j) == SWAP_SUCCESS
        return [
            self.succ(0) == 0,
            self.dirt(0) == s0.dirty,
            z3.ForAll([m], self.succm(m, 0) == 0, patterns=[self.succm(m, 0)]),
            z3.ForAll(
                [j],
                z3.Implies(step, self.succ(j + 1) == self.succ(j) + z3.If(gone, 1, 0)),
                patterns=[self.succ(j + 1)],
            ),
            z3.ForAll(
                [j],
                z3.Implies(step, self.dirt(j + 1) == z3.Or(self.dirt(j), z3.And(gone, s0.pd[self.pte(j)]))),
                patterns=[self.dirt(j + 1)],
            ),
            z3.ForAll(
                [m, j],
                z3.Implies(
                    step,
                    self.succm(m, j + 1)
                    == self.succm(m, j) + z3.If(z3.And(gone, s0.pmm[self.pte(j)] == m), 1, 0),
                ),
                patterns=[self.succm(m, j + 1)],
            ),
        ]


def _unmapped_value(s0: State) -> tuple[Any, Any]:
    """What an unmapped pte holds: the swap-cache entry, or nothing."""
    return z3.If(s0.swapcache, 2, 0), z3.If(s0.swapcache, s0.index, 0)


def unmap_invariant(e: Enumeration, w: Walk, i: Any, kn: Any, slices: tuple[str, ...]) -> Goals:
    """The invariant of try_to_unmap's walk before the entry at position i.

    The chain so far is the kept nodes kn[0..m) (m = i - succ(i), in
    order) followed by the untouched tail nd[i..n); a kept entry at
    position j has new position j - succ(j)."""
    s0, s = e.s0, w.s
    n, succ = s0.n, e.succ
    m = i - succ(i)
    k, x, p, mm = z3.Int("k"), z3.Int("x"), z3.Int("p"), z3.Int("mm")
    done = lambda j: z3.And(j >= 0, j < i)  # noqa: E731
    gone_at = lambda j: z3.And(done(j), e.out(j) == SWAP_SUCCESS)  # noqa: E731
    kept_at = lambda j: z3.And(done(j), e.out(j) != SWAP_SUCCESS)  # noqa: E731
    out: Goals = []
    if "walk" in slices:
        out += [
            ("walk: position in range", z3.And(i >= 0, i <= n, succ(i) >= 0, succ(i) <= i)),
            ("walk: pc is the node at i", w.pc == z3.If(i < n, s0.nd[i], NULL)),
            ("walk: prev is a node before i", z3.Or(w.prev == NULL, done(s0.npos[w.prev]))),
            (
                "walk: the head is NULL or a live node not after pc (pc only while prev is NULL)",
                z3.Or(
                    s.word == NULL,
                    z3.And(
                        s.live[s.word],
                        s0.npos[s.word] >= 0,
                        s0.npos[s.word] <= i,
                        z3.Implies(s.word == w.pc, w.prev == NULL),
                    ),
                ),
            ),
            (
                "walk: the tail is untouched",
                inv.forall(x, z3.Implies(s0.npos[x] >= i, s.nxt[x] == s0.nxt[x]), s0.npos, x),
            ),
            (
                "walk: exactly the unmapped nodes are freed",
                s.live == z3.Lambda([x], z3.And(s0.live[x], z3.Not(gone_at(s0.npos[x])))),
            ),
        ]
    if "values" in slices:
        kind, target = _unmapped_value(s0)
        gone_pte = lambda q: z3.And(  # noqa: E731
            s0.ppos[q] >= 0, s0.ppos[q] < i, code.unmap_outcome(s0, q, e.variant) == SWAP_SUCCESS
        )
        # Array equalities with lambdas, not quantifiers: z3 reads them by
        # beta reduction, with no instantiation to find.
        out += [
            (
                "walk: unmapped ptes hold nothing or the swap entry",
                s.pk == z3.Lambda([p], z3.If(gone_pte(p), kind, s0.pk[p])),
            ),
            ("walk: unmapped ptes' targets", s.pt == z3.Lambda([p], z3.If(gone_pte(p), target, s0.pt[p]))),
            (
                "walk: unmapped ptes are not young",
                s.py == z3.Lambda([p], z3.And(z3.Not(gone_pte(p)), s0.py[p])),
            ),
            (
                "walk: unmapped ptes are not dirty",
                s.pd == z3.Lambda([p], z3.And(z3.Not(gone_pte(p)), s0.pd[p])),
            ),
            ("walk: rss lowered per unmapped pte", s.rss == z3.Lambda([mm], s0.rss[mm] - e.succm(mm, i))),
            ("walk: page count lowered per unmapped pte", s.count == s0.count - succ(i)),
            (
                "walk: swap count raised per unmapped pte",
                s.swap
                == z3.If(
                    s0.swapcache,
                    z3.Store(s0.swap, s0.index, _swap_after(s0.swap[s0.index], succ(i))),
                    s0.swap,
                ),
            ),
            ("walk: dirty bits moved to the page", s.dirty == e.dirt(i)),
            (
                "walk: nr_reverse_maps",
                s.nr == (s0.nr - succ(i) if e.variant == "fixed" else s0.nr),
            ),
        ]
    if "ret" in slices:
        out += [
            ("walk: ret is SWAP_SUCCESS while all unmapped", (w.ret == SWAP_SUCCESS) == (succ(i) == i)),
            (
                "walk: SWAP_SUCCESS so far means every entry so far was unmapped",
                inv.forall(
                    x,
                    z3.Implies(
                        z3.And(w.ret == SWAP_SUCCESS, done(s0.npos[x])), e.out(s0.npos[x]) == SWAP_SUCCESS
                    ),
                    s0.npos,
                    x,
                ),
            ),
            (
                "walk: ret is the answer of an entry that stayed",
                z3.Implies(
                    w.ret != SWAP_SUCCESS,
                    z3.And(w.witness >= 0, w.witness < i, e.out(w.witness) == w.ret),
                ),
            ),
        ]
    if "shape" in slices:
        out += [
            ("walk: prev is the last kept node", w.prev == z3.If(m > 0, kn[m - 1], NULL)),
            ("walk: the head", z3.And(s.word == z3.If(m > 0, kn[0], w.pc), z3.Not(s.wpte))),
            ("walk: the last kept node links to pc", z3.Implies(m > 0, s.nxt[kn[m - 1]] == w.pc)),
            (
                "walk: kept nodes are linked in order",
                inv.forall(k, z3.Implies(z3.And(k >= 0, k + 1 < m), s.nxt[kn[k]] == kn[k + 1]), kn, k),
            ),
            (
                "walk: kn holds the kept nodes",
                inv.forall(
                    k,
                    z3.Implies(
                        z3.And(k >= 0, k < m),
                        z3.And(kept_at(s0.npos[kn[k]]), s0.npos[kn[k]] - succ(s0.npos[kn[k]]) == k),
                    ),
                    kn,
                    k,
                ),
            ),
            (
                "walk: every kept node is in kn",
                inv.forall(
                    x,
                    z3.Implies(
                        kept_at(s0.npos[x]),
                        z3.And(
                            kn[s0.npos[x] - succ(s0.npos[x])] == x,
                            s0.npos[x] - succ(s0.npos[x]) >= 0,
                            s0.npos[x] - succ(s0.npos[x]) < m,
                        ),
                    ),
                    s0.npos,
                    x,
                ),
            ),
        ]
    return out


def _swap_after(count: Any, added: Any) -> Any:
    return z3.If(
        count >= SWAP_MAP_MAX, count, z3.If(count + added >= SWAP_MAP_MAX, SWAP_MAP_MAX, count + added)
    )


LOOP_FIELDS = ("word", "nxt", "live", "pk", "pt", "py", "pd", "rss", "swap", "count", "dirty", "nr")


def unmap_vcs(variant: str, prop: str, held: bool = False, contract: tuple[str, ...] = ()) -> Problem:
    """``held``: as reclaim calls it, under the page's pte_chain_lock;
    ``contract``: instead of ``prop``, the union of these properties and
    the frame (what reclaim relies on)."""
    s0 = fresh("s")
    pre = [
        inv.world_facts(s0),
        *facts(inv.full(s0, held)),
        normal(s0),
        z3.Implies(s0.swapcache, s0.swap[s0.index] > 0),  # spec.ops.pre_unmap
        s0.locked,  # the caller holds the page lock
        s0.mapping,  # and the page has backing store
    ]
    p = z3.Int("p")
    impl_out = lambda q: code.unmap_outcome(s0, q, variant)  # noqa: E731
    agree = (
        "unmap outcomes are env_unmap_outcome",
        inv.forall(p, z3.Implies(s0.ppos[p] >= 0, impl_out(p) == spec_outcome(s0, p)), s0.ppos, p),
    )
    gone = lambda q: z3.And(s0.ppos[q] >= 0, impl_out(q) == SWAP_SUCCESS)  # noqa: E731

    def goals(
        s: State, r: Any, removed: Any, removed_of: Any, dirtied: Any, witness: Any
    ) -> tuple[list[Any], Goals]:
        return by_prop(prop, s, r, removed, removed_of, dirtied, witness)

    def by_prop(
        prop: str, s: State, r: Any, removed: Any, removed_of: Any, dirtied: Any, witness: Any
    ) -> tuple[list[Any], Goals]:
        if prop == CONTRACT:
            parts = [by_prop(q, s, r, removed, removed_of, dirtied, witness)[1] for q in contract]
            return [], [*dict(g for part in parts for g in part).items(), *unchanged(s0, s, UNMAP_FRAME)]
        if prop == PRESERVE:
            return [], [*no_fault(s), *inv.full(s, held)]
        if prop == REFINE:
            want = spec_unmap(s0, gone, removed, removed_of, dirtied)
            stays = z3.Implies(r != SWAP_SUCCESS, z3.And(s0.ppos[witness] >= 0, impl_out(witness) == r))
            result = z3.And((r == SWAP_SUCCESS) == (removed == s0.n), stays)
            return [], [*no_fault(s), *inv.structure(s), agree, ("result", result), *alpha_goals(s, want)]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        if prop == RETURN:
            q = z3.Int("q")
            nothing_maps = z3.ForAll([q], z3.Not(maps_page(s, q)))
            return [s.fault == 0], [
                ("SWAP_SUCCESS iff no pte maps the page", (r == SWAP_SUCCESS) == nothing_maps),
                (
                    "otherwise the answer of a pte that still maps it",
                    z3.Implies(r != SWAP_SUCCESS, z3.And(maps_page(s, witness), impl_out(witness) == r)),
                ),
            ]
        assert prop == COUNTS
        mm = z3.Int("mm")
        swapped_in = z3.If(s0.swapcache, removed, 0)
        return [s.fault == 0], [
            ("count_rss", inv.forall(mm, s.rss[mm] - s0.rss[mm] == -removed_of(mm), s0.rss, mm)),
            ("count_page_refs", z3.And(s.count - s0.count == -removed, s.n - s0.n == -removed)),
            (
                "count_swap",
                z3.Or(
                    z3.Not(s0.swapcache),
                    s.swap[s0.index] >= SWAP_MAP_MAX,
                    s.swap[s0.index] - s0.swap[s0.index] == swapped_in,
                ),
            ),
            ("count_nr_reverse_maps", s.nr - s0.nr == s.n - s0.n),
            *objects_balanced(s),
        ]

    # The direct page.
    checked = code.unmap_checks(s0)
    s1, r = code.unmap_direct(checked, variant)
    d = s0.word
    hit = r == SWAP_SUCCESS
    s1 = s1.but(n=z3.If(hit, 0, 1), ppos=z3.If(hit, z3.Store(s0.ppos, d, -1), s0.ppos))
    extra, gs = goals(
        s1,
        r,
        z3.If(hit, 1, 0),
        lambda mm: z3.If(z3.And(hit, s0.pmm[d] == mm), 1, 0),
        z3.Or(s0.dirty, z3.And(hit, s0.pd[d])),
        d,
    )
    out = [VC("direct page", [*pre, s0.direct], gs, assume=extra, split=True, **small(s0, 1))]

    # The chain walk.
    e = Enumeration.of(s0, variant)
    # What each property needs of the walk; the seed's broken chain surgery
    # (F1) only breaks the "shape" slice.
    needs = {RETURN: ("walk", "values", "ret"), SPEC_REFINES: ("walk", "values")}
    every = ("walk", "values", "ret", "shape")
    slices = tuple(
        dict.fromkeys(x for q in (contract if prop == CONTRACT else (prop,)) for x in needs.get(q, every))
    )
    walking = [*pre, z3.Not(s0.direct), *e.axioms()]
    i, kn = z3.Int("i"), z3.Array("kn", z3.IntSort(), z3.IntSort())
    sl = fresh("l")
    s_loop = s0.but(**{f: getattr(sl, f) for f in LOOP_FIELDS})
    w = Walk(s_loop, z3.Int("pc"), z3.Int("prev"), z3.Int("ret"), z3.Int("witness"))
    start = code.unmap_start(checked)
    out.append(
        VC(
            "walk: initiation",
            walking,
            unmap_invariant(e, start, z3.IntVal(0), kn, slices),
            split=True,
            **small(s0, 2, more=tuple(e.pins([SWAP_SUCCESS] * 2))),
        )
    )
    in_loop = [*walking, *facts(unmap_invariant(e, w, i, kn, slices)), w.pc != NULL]
    # The pinned case for the consistency checks: the walk at its start.
    at_start = (
        i == 0,
        kn == z3.K(z3.IntSort(), 0),
        w.pc == s0.nd[0],
        w.prev == NULL,
        w.ret == SWAP_SUCCESS,
        w.witness == -1,
        *[getattr(sl, f) == getattr(s0, f) for f in LOOP_FIELDS],
    )
    m = i - e.succ(i)
    for (guard, stepped), name, keeps, env in zip(
        code.unmap_step(w, variant, i),
        ("SWAP_SUCCESS", "SWAP_AGAIN", "SWAP_FAIL"),
        (False, True, True),
        (SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL),
        strict=True,
    ):
        kn2 = z3.Store(kn, m, w.pc) if keeps else kn
        goal = [*no_fault(stepped.s), *unmap_invariant(e, stepped, i + 1, kn2, slices)]
        out.append(
            VC(
                f"walk: step, {name}",
                [*in_loop, guard],
                goal,
                split=True,
                **small(s0, 3, env, (*at_start, *e.pins([env] * 3))),
            )
        )
    # The exit: pc is NULL, every entry was asked.
    all_kept = (  # three entries, every one SWAP_FAIL: nothing changed
        i == 3,
        w.pc == NULL,
        w.prev == s0.nd[2],
        w.ret == SWAP_FAIL,
        w.witness == 2,
        kn == z3.Store(z3.Store(z3.Store(z3.K(z3.IntSort(), 0), 0, s0.nd[0]), 1, s0.nd[1]), 2, s0.nd[2]),
        *[getattr(sl, f) == getattr(s0, f) for f in LOOP_FIELDS],
        *e.pins([SWAP_FAIL] * 3),
    )
    one_kept = (  # two entries: the first unmapped, the second SWAP_FAIL
        i == 2,
        w.pc == NULL,
        w.prev == s0.nd[1],
        w.ret == SWAP_FAIL,
        w.witness == 1,
        kn == z3.Store(z3.K(z3.IntSort(), 0), 0, s0.nd[1]),
        sl.word == s0.nd[1],
        sl.nxt == s0.nxt,
        sl.live == z3.Store(s0.live, s0.nd[0], False),
        sl.pk == z3.Store(s0.pk, 1, 0),
        sl.pt == z3.Store(s0.pt, 1, 0),
        sl.py == s0.py,
        sl.pd == s0.pd,
        sl.rss == z3.Store(s0.rss, 1, 0),
        sl.swap == s0.swap,
        sl.count == s0.count - 1,
        sl.dirty == s0.dirty,
        sl.nr == (s0.nr - 1 if variant == "fixed" else s0.nr),
        *e.pins([SWAP_SUCCESS, SWAP_FAIL]),
    )
    done = [*walking, *facts(unmap_invariant(e, w, i, kn, slices)), w.pc == NULL]
    post = code.unmap_exit(w.s)
    n_left = s0.n - e.succ(s0.n)
    x = z3.Int("x")
    kept = lambda j: z3.And(j >= 0, j < s0.n, e.out(j) != SWAP_SUCCESS)  # noqa: E731
    chain_post = post.but(
        n=n_left,
        nd=kn,
        npos=z3.Lambda([x], z3.If(kept(s0.npos[x]), s0.npos[x] - e.succ(s0.npos[x]), -1)),
        ppos=z3.Lambda(
            [p], z3.If(z3.And(s0.ppos[p] >= 0, kept(s0.ppos[p])), s0.ppos[p] - e.succ(s0.ppos[p]), -1)
        ),
    )
    direct_post = post.but(
        n=1,
        npos=z3.K(z3.IntSort(), -1),
        ppos=z3.Lambda([p], z3.If(z3.And(s0.ppos[p] >= 0, kept(s0.ppos[p])), 0, -1)),
    )
    for name, guard, s, pins in (
        (
            "walk: exit, one entry left: collapse to direct",
            n_left == 1,
            direct_post,
            small(s0, 2, [SWAP_SUCCESS, SWAP_FAIL], one_kept),
        ),
        ("walk: exit, chain or nothing left", n_left != 1, chain_post, small(s0, 3, SWAP_FAIL, all_kept)),
    ):
        extra, gs = goals(
            s, w.ret, e.succ(s0.n), lambda mm: e.succm(mm, s0.n), e.dirt(s0.n), e.pte(w.witness)
        )
        out.append(VC(name, [*done, guard], gs, assume=extra, split=True, **pins))
    return Problem(out, s0)


# ------------------------------------------------------------ try_to_unmap_one


def unmap_one_vcs(variant: str, prop: str) -> Problem:
    """try_to_unmap_one on a pte of the page's reverse map (as try_to_unmap
    calls it): one path per lock state and find_vma answer."""
    s0, t = fresh("s"), z3.Int("t")
    pre = [
        inv.world_facts(s0),
        *facts(inv.full(s0)),
        s0.ppos[t] >= 0,
        normal(s0),
        z3.Implies(s0.swapcache, s0.swap[s0.index] > 0),
    ]
    s1, r = code.try_to_unmap_one(s0, t, variant)
    spec_r = spec_outcome(s0, t)
    gone = r == SWAP_SUCCESS
    mm = z3.Int("mm")
    want = spec_unmap(
        s0,
        lambda q: z3.And(q == t, spec_r == SWAP_SUCCESS),
        z3.If(spec_r == SWAP_SUCCESS, 1, 0),
        lambda m: z3.If(z3.And(spec_r == SWAP_SUCCESS, s0.pmm[t] == m), 1, 0),
        z3.Or(s0.dirty, z3.And(spec_r == SWAP_SUCCESS, s0.pd[t])),
    )
    # The entry stays on the chain: try_to_unmap removes it, not this; but
    # an unmapped pte's entry is uncounted here, where the mapping ends.
    want["rmap"] = lambda q: s0.ppos[q] >= 0
    want["nr_reverse_maps"] = s0.nr - z3.If(spec_r == SWAP_SUCCESS, 1, 0)

    def goals() -> tuple[list[Any], Goals]:
        if prop == PRESERVE:
            return [], [
                *no_fault(s1),
                *inv.structure(s1),
                *inv.locks(s1),
                *inv.sound(s1, but=t),
                *inv.complete(s1),
                ("count_page_refs", s1.count == s1.base + s1.n - z3.If(gone, 1, 0)),
                ("count_nr_reverse_maps", s1.nr == s1.nr_other + s1.n - z3.If(gone, 1, 0)),
            ]
        if prop == REFINE:
            return [], [*no_fault(s1), ("result", r == spec_r), *alpha_goals(s1, want)]
        if prop == SPEC_REFINES:
            return [], no_fault(s1)
        assert prop == COUNTS
        return [s1.fault == 0], [
            (
                "count_rss",
                inv.forall(
                    mm, s1.rss[mm] - s0.rss[mm] == -z3.If(z3.And(gone, s0.pmm[t] == mm), 1, 0), s0.rss, mm
                ),
            ),
            ("count_page_refs", s1.count - s0.count == -z3.If(gone, 1, 0)),
            (
                "count_swap",
                z3.Or(
                    z3.Not(s0.swapcache),
                    s1.swap[s0.index] >= SWAP_MAP_MAX,
                    s1.swap[s0.index] - s0.swap[s0.index] == z3.If(gone, 1, 0),
                ),
            ),
            ("count_nr_reverse_maps", s1.nr == s0.nr - z3.If(gone, 1, 0)),
            ("count_pte_chain_objects", s1.live == s0.live),
        ]

    extra, gs = goals()
    out = []
    busy = s0.busy[s0.pmm[t]]
    for kind, name in VMA_KINDS.items():
        for locked in (False, True):
            if locked and kind != OK:
                continue  # a busy lock answers SWAP_AGAIN before find_vma
            guard = busy if locked else z3.And(z3.Not(busy), s0.vk[t] == kind)
            label = "page_table_lock busy" if locked else f"lock free, {name}"
            env = SWAP_AGAIN if locked else SWAP_SUCCESS if kind == OK else SWAP_FAIL
            pins = {
                "pins": [*inv.pin_chain(s0, 2, env, kinds={1: kind}), t == 1],
                "search": [*inv.pin_chain(s0, 2), t == 1],
            }
            out.append(VC(label, [*pre, guard], gs, assume=extra, split=True, **pins))
    return Problem(out, s0, t)


# ------------------------------------------------------------ page_referenced


def referenced_vcs(variant: str, prop: str, held: bool = False, contract: tuple[str, ...] = ()) -> Problem:
    """``held``: as reclaim calls it, under the page's pte_chain_lock;
    ``contract``: instead of ``prop``, the union of these properties and
    the frame (what reclaim relies on)."""
    s0 = fresh("s")
    pre = [inv.world_facts(s0), *facts(inv.full(s0, held))]
    yc = z3.Array("young", z3.IntSort(), z3.IntSort())
    j, p, i = z3.Int("j"), z3.Int("p"), z3.Int("i")
    pte_at = lambda k: s0.ptep[s0.nd[k]]  # noqa: E731
    axioms = [
        yc[0] == 0,
        z3.ForAll(
            [j],
            z3.Implies(z3.And(j >= 0, j < s0.n), yc[j + 1] == yc[j] + z3.If(s0.py[pte_at(j)], 1, 0)),
            patterns=[yc[j + 1]],
        ),
    ]

    def goals(s: State, count: Any, young: Any, prop: str = prop) -> tuple[list[Any], Goals]:
        if prop == CONTRACT:
            parts = [goals(s, count, young, q)[1] for q in contract]
            return [], [*dict(g for part in parts for g in part).items(), *unchanged(s0, s, REFERENCED_FRAME)]
        if prop == PRESERVE:
            return [], [*no_fault(s), *inv.full(s, held)]
        if prop == REFINE:
            want_count, want = spec_referenced(s0, young)
            return [], [
                *no_fault(s),
                *inv.structure(s),
                ("result", count == want_count),
                *alpha_goals(s, want),
            ]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        assert prop == COUNTS
        return [s.fault == 0], unchanged(s0, s, ("rss", "count", "swap", "nr", "live"))

    start = code.referenced_start(s0)
    direct = code.test_clear_young(start, s0.word)
    extra, gs = goals(direct.s, direct.ret, z3.If(s0.py[s0.word], 1, 0))
    out = [VC("direct page", [*pre, s0.direct], gs, assume=extra, split=True, **small(s0, 1))]
    walking = [*pre, z3.Not(s0.direct), *axioms]
    sl = fresh("l")
    w = Walk(start.s.but(py=sl.py), z3.Int("pc"), z3.IntVal(NULL), z3.Int("ret"))

    def invariant(w: Walk, at: Any) -> Goals:
        return [
            ("walk: position in range", z3.And(at >= 0, at <= s0.n)),
            ("walk: pc is the node at i", w.pc == z3.If(at < s0.n, s0.nd[at], NULL)),
            (
                "walk: young bits cleared before i",
                w.s.py == z3.Lambda([p], z3.And(s0.py[p], z3.Not(z3.And(s0.ppos[p] >= 0, s0.ppos[p] < at)))),
            ),
            ("walk: the count so far", w.ret == z3.If(s0.referenced, 1, 0) + yc[at]),
            ("walk: no fault", w.s.fault == 0),
        ]

    young_pins = (yc == z3.K(z3.IntSort(), 0),)
    out.append(
        VC("walk: initiation", walking, invariant(start, z3.IntVal(0)), **small(s0, 2, more=young_pins))
    )
    in_loop = [*walking, *facts(invariant(w, i))]
    at_start = (i == 0, w.pc == s0.nd[0], w.ret == z3.If(s0.referenced, 1, 0), sl.py == s0.py, *young_pins)
    out.append(
        VC(
            "walk: step",
            [*in_loop, w.pc != NULL],
            invariant(code.referenced_step(w), i + 1),
            split=True,
            **small(s0, 3, more=at_start),
        )
    )
    extra, gs = goals(w.s, w.ret, yc[s0.n])
    at_end = (i == 3, w.pc == NULL, w.ret == z3.If(s0.referenced, 1, 0), sl.py == s0.py, *young_pins)
    out.append(
        VC("walk: exit", [*in_loop, w.pc == NULL], gs, assume=extra, split=True, **small(s0, 3, more=at_end))
    )
    return Problem(out, s0)


# ------------------------------------------------------------ map


def map_vcs(variant: str, prop: str) -> Problem:
    """The fault path: map_pte around page_add_rmap, on this page."""
    s0, t, dirty = fresh("s"), z3.Int("t"), z3.Bool("dirty")
    pre = [
        inv.world_facts(s0),
        *facts(inv.full(s0)),
        t != NULL,
        code.pre_map_caller(s0, t),
        z3.Implies(s0.pk[t] == SWAP, s0.swap[s0.pt[t]] > 0),  # spec.ops.pre_map
    ]
    s1, res = code.map_pte(s0, t, dirty, variant)
    mm = z3.Int("mm")
    nomem = z3.And(normal(s0), s0.fail_next > 0, s0.n > 0)
    paths = add_paths(s0, s1, t, res, nomem, reserved_length=0)
    mapped = z3.Not(nomem)
    old_swap = s0.pk[t] == SWAP
    entry = s0.pt[t]
    gains = z3.And(mapped, normal(s0))
    want = spec_rmap_add(s0, t)[1]
    want["pte kinds"] = z3.If(mapped, z3.Store(s0.pk, t, PAGE), s0.pk)
    want["pte targets"] = z3.If(mapped, z3.Store(s0.pt, t, s0.pfn), s0.pt)
    want["pte young"] = z3.If(mapped, z3.Store(s0.py, t, True), s0.py)
    want["pte dirty"] = z3.If(mapped, z3.Store(s0.pd, t, dirty), s0.pd)
    want["rss"] = z3.If(gains, z3.Store(s0.rss, s0.pmm[t], s0.rss[s0.pmm[t]] + 1), s0.rss)
    want["page count"] = s0.count + z3.If(gains, 1, 0)
    freed = z3.If(s0.swap[entry] >= SWAP_MAP_MAX, s0.swap[entry], s0.swap[entry] - 1)
    want["swap"] = z3.If(z3.And(mapped, old_swap), z3.Store(s0.swap, entry, freed), s0.swap)

    def goals(path: Path) -> tuple[list[Any], Goals]:
        s = path.post
        if prop == PRESERVE:
            return [], [*no_fault(s), *inv.full(s)]
        if prop == REFINE:
            result = path.result == z3.If(nomem, 1, 0)
            return [], [*no_fault(s), *inv.structure(s), ("result", result), *alpha_goals(s, want)]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        assert prop == COUNTS
        return [s.fault == 0], [
            (
                "count_rss",
                inv.forall(
                    mm, s.rss[mm] - s0.rss[mm] == z3.If(z3.And(gains, s0.pmm[t] == mm), 1, 0), s0.rss, mm
                ),
            ),
            ("count_page_refs", z3.Implies(normal(s0), s.count - s0.count == s.n - s0.n)),
            (
                "count_swap",
                z3.Or(
                    z3.Not(z3.And(mapped, old_swap)),
                    s.swap[entry] >= SWAP_MAP_MAX,
                    s.swap[entry] - s0.swap[entry] == -1,
                ),
            ),
            ("count_nr_reverse_maps", s.nr - s0.nr == s.n - s0.n),
            *objects_balanced(s),
        ]

    out = []
    for path in paths:
        extra, gs = goals(path)
        n = path.length or 0
        odd = path is paths[0]  # its pinned page is PG_reserved
        pins = [*inv.pin_chain(s0, n, SWAP_SUCCESS, reserved=odd), t == 9]
        search = [*inv.pin_chain(s0, n), t == 9]
        out.append(VC(path.name, [*pre, path.guard], gs, pins, search, extra, split=True))
    return Problem(out, s0, t)


def remove_contract(s0: State, s: State, t: Any) -> Goals:
    """What zap relies on of page_remove_rmap: no fault, the invariant, α
    as spec.ops.rmap_remove says, and the fields it never writes."""
    return [
        *no_fault(s),
        *inv.structure(s),
        *inv.locks(s),
        *inv.sound(s),
        *inv.complete(s),
        *inv.nr_count(s),
        *alpha_goals(s, spec_rmap_remove(s0, t)),
        *unchanged(s0, s, REMOVE_FRAME),
    ]


# ------------------------------------------------------------ zap


def zap_vcs(variant: str, prop: str) -> Problem:
    """munmap/exit: zap_pte around page_remove_rmap.  The callee's contract
    is proven by its own VCs (with t recorded, as zap calls it), included
    here; the caller's paths then use the contract."""
    callee = remove_vcs(variant, CONTRACT, found=True)
    for vc in callee.vcs:
        vc.name = f"page_remove_rmap contract: {vc.name}"
    s0, t = fresh("z"), z3.Int("zt")
    pre = [
        inv.world_facts(s0),
        *facts(inv.full(s0)),
        t != NULL,
        code.pre_zap_caller(s0, t),
        z3.Implies(s0.pk[t] == PAGE, s0.pt[t] == s0.pfn),  # this page is the one t maps
        # count_swap: a swap entry a pte holds has a count of at least one
        z3.Implies(s0.pk[t] == SWAP, s0.swap[s0.pt[t]] > 0),
    ]

    cleared = code.zap_prefix(s0, t)
    r = fresh("r")
    # r as the contract allows: ghosts and chain fields free, the rest framed.
    contract = [term for _, term in remove_contract(cleared, r, t)]
    takes = code.zap_takes_page(s0, t)
    removed = code.zap_suffix(s0, r, t)
    other = code.zap_suffix(s0, cleared, t)
    old = s0.pk[t]
    z3.Int("mm")
    normal_page = z3.And(old == PAGE, normal(s0))
    want = spec_rmap_remove(s0, t)
    want["pte kinds"] = z3.Store(s0.pk, t, 0)
    want["pte targets"] = z3.Store(s0.pt, t, 0)
    want["pte young"] = z3.Store(s0.py, t, False)
    want["pte dirty"] = z3.Store(s0.pd, t, False)
    want["rss"] = z3.If(normal_page, z3.Store(s0.rss, s0.pmm[t], s0.rss[s0.pmm[t]] - 1), s0.rss)
    want["page count"] = s0.count - z3.If(normal_page, 1, 0)
    want["page dirty"] = z3.Or(s0.dirty, z3.And(normal_page, s0.pd[t]))
    entry = s0.pt[t]
    freed = z3.If(s0.swap[entry] >= SWAP_MAP_MAX, s0.swap[entry], s0.swap[entry] - 1)
    want["swap"] = z3.If(old == SWAP, z3.Store(s0.swap, entry, freed), s0.swap)

    def goals(s: State) -> tuple[list[Any], Goals]:
        if prop == PRESERVE:
            return [], [*no_fault(s), *inv.full(s)]
        if prop == REFINE:
            return [], [*no_fault(s), *inv.structure(s), *alpha_goals(s, want)]
        if prop == SPEC_REFINES:
            return [], no_fault(s)
        assert prop == COUNTS
        return [s.fault == 0], [
            (
                "count_rss",
                s.rss == z3.If(normal_page, z3.Store(s0.rss, s0.pmm[t], s0.rss[s0.pmm[t]] - 1), s0.rss),
            ),
            ("count_page_refs", z3.Implies(normal(s0), s.count - s0.count == s.n - s0.n)),
            (
                "count_swap",
                z3.Or(old != SWAP, s.swap[entry] >= SWAP_MAP_MAX, s.swap[entry] - s0.swap[entry] == -1),
            ),
            ("count_nr_reverse_maps", s.nr - s0.nr == s.n - s0.n),
            *objects_balanced(s),
        ]

    out = list(callee.vcs)
    extra, gs = goals(removed)
    call = [(f"page_remove_rmap's precondition: {name}", term) for name, term in remove_pre(cleared, t)]
    out.append(
        VC(
            "a present page: page_remove_rmap, then the page's references",
            [*pre, takes, *contract],
            [
                *call,
                (
                    "t is recorded (or the page is not reverse-mapped)",
                    z3.Or(cleared.ppos[t] >= 0, z3.Not(normal(cleared))),
                ),
                *gs,
            ],
            pins=[*inv.pin_chain(s0, 2, SWAP_FAIL), t == 1],
            assume=extra,
            split=True,
        )
    )
    # Pinned cases: pte 9 holds swap entry 7; pte 9 maps an invalid page.
    for name, guard, pins in (
        ("a swap entry", old == SWAP, [s0.pk[t] == SWAP, s0.pt[t] == 7, s0.swap[7] == 1]),
        ("a present pte of an invalid pfn", z3.And(old == PAGE, z3.Not(s0.valid)), [s0.pk[t] == PAGE]),
    ):
        extra, gs = goals(other)
        pinned = [*inv.pin_chain(s0, 0), t == 9, *pins, s0.busy == z3.K(z3.IntSort(), False)]
        out.append(VC(name, [*pre, guard], gs, pinned, assume=extra, split=True))
    return Problem(out, s0, t)


# ------------------------------------------------------------ reclaim


def reclaim_vcs(variant: str, prop: str) -> Problem:
    """shrink_cache on one page: page_referenced, then (unreferenced and
    mapped) try_to_unmap, under the page lock and pte_chain_lock.  Both
    callees' contracts (everything their own obligations state, as reclaim
    calls them, and the fields they never write) are proven by their VCs,
    included here; the caller's VC then checks the glue: each callee's
    precondition at its call, the disposition spec.ops.reclaim gives, and
    that reclaim itself changes nothing α sees."""
    out = []
    of_referenced, of_unmap = RECLAIM_NEEDS[prop]
    for name, callee in (
        ("page_referenced", referenced_vcs(variant, CONTRACT, held=True, contract=of_referenced)),
        ("try_to_unmap", unmap_vcs(variant, CONTRACT, held=True, contract=of_unmap)),
    ):
        for vc in callee.vcs:
            vc.name = f"{name} contract: {vc.name}"
            vc.state = callee.state
            out.append(vc)
    s0 = fresh("c")
    pre = [
        inv.world_facts(s0),
        *facts(inv.full(s0)),
        code.pre_reclaim_caller(s0),
        normal(s0),  # a page of mem_map, not reserved
        z3.Implies(s0.swapcache, s0.swap[s0.index] > 0),  # spec.ops.pre_unmap
    ]
    e1 = code.reclaim_prefix(s0)
    r1, r2 = fresh("r1"), fresh("r2")
    ref, res = z3.Int("ref"), z3.Int("res")
    asked = z3.And(ref == 0, r1.word != NULL)
    q = z3.Int("q")
    nothing_maps = z3.ForAll([q], z3.Not(maps_page(r2, q)))
    contracts = [
        # page_referenced's (as proven above): no fault, the invariant, the frame
        r1.fault == 0,
        *facts(inv.full(r1, held=True)),
        *[term for _, term in unchanged(e1, r1, REFERENCED_FRAME)],
        ref >= 0,
    ]
    # try_to_unmap's, when it is called: what its contract for this property says
    unmapped = [r2.fault == 0, *[term for _, term in unchanged(r1, r2, UNMAP_FRAME)]]
    if PRESERVE in of_unmap:
        unmapped += facts(inv.full(r2, held=True))
    if RETURN in of_unmap:
        unmapped.append((res == SWAP_SUCCESS) == nothing_maps)
    if COUNTS in of_unmap:
        unmapped += facts(objects_balanced(r2))
    disposition = code.disposition(ref, r1.word, res)
    calls = [
        *[(f"page_referenced's precondition: {n}", t) for n, t in inv.full(e1, held=True)],
        *[
            (f"try_to_unmap's precondition: {n}", z3.Implies(asked, t))
            for n, t in [*inv.full(r1, held=True), ("normal", normal(r1)), ("page locked", r1.locked)]
        ],
        ("try_to_unmap's precondition: mapping", z3.Implies(asked, r1.mapping)),
        (
            "try_to_unmap's precondition: swap entry in use",
            z3.Implies(asked, z3.Implies(r1.swapcache, r1.swap[r1.index] > 0)),
        ),
    ]

    def glue(after: State) -> Goals:
        """The caller's goals, once try_to_unmap has (or has not) run."""
        final = code.reclaim_suffix(after)
        if prop == PRESERVE:
            return [*no_fault(final), *inv.full(final)]
        elif prop == REFINE:
            by_result = z3.If(
                res == SWAP_SUCCESS, code.FREE, z3.If(res == SWAP_AGAIN, code.KEEP, code.ACTIVATE)
            )
            spec_disposition = z3.If(ref > 0, code.ACTIVATE, z3.If(r1.n == 0, code.FREE, by_result))
            return [
                *no_fault(final),
                ("try_to_unmap is asked exactly when the spec unmaps", asked == z3.And(ref == 0, r1.n > 0)),
                ("disposition", disposition == spec_disposition),
                *[(f"reclaim itself keeps {g}", t) for g, t in alpha_goals(final, abstract(after))],
            ]
        elif prop == SPEC_REFINES:
            return no_fault(final)
        elif prop == RETURN:
            p = z3.Int("p")
            return [
                (
                    "the page is freed only when no pte maps it",
                    z3.Implies(disposition == code.FREE, z3.ForAll([p], z3.Not(maps_page(final, p)))),
                )
            ]
        else:
            assert prop == COUNTS
            return [
                *unchanged(after, final, ("rss", "count", "swap", "nr", "live")),
                *objects_balanced(final),
            ]

    # The pinned cases: two mappings, both SWAP_FAIL, so try_to_unmap
    # changes nothing; the page referenced (reclaim stops there) or not.
    def pinned(referenced: bool) -> list[Any]:
        return [
            *inv.pin_chain(s0, 2, SWAP_FAIL),
            s0.referenced == referenced,
            ref == (1 if referenced else 0),
            res == SWAP_FAIL,
            *[getattr(r1, f) == getattr(e1, f) for f in IMPL_AND_GHOSTS if f != "referenced"],
            z3.Not(r1.referenced),
            *[getattr(r2, f) == getattr(r1, f) for f in IMPL_AND_GHOSTS],
        ]

    for name, case, after, referenced in (
        ("shrink_cache, try_to_unmap asked", [asked, *unmapped], r2, False),
        ("shrink_cache, try_to_unmap not asked", [z3.Not(asked)], r1, True),
    ):
        goals = [*calls, *glue(after)]
        out.append(VC(name, [*pre, *contracts, *case], goals, pins=pinned(referenced), split=True))
    return Problem(out, s0)


BUILDERS: dict[str, Callable[[str, str], Problem]] = {
    "page_add_rmap": add_vcs,
    "page_remove_rmap": remove_vcs,
    "try_to_unmap": unmap_vcs,
    "try_to_unmap_one": unmap_one_vcs,
    "page_referenced": referenced_vcs,
    "map": map_vcs,
    "zap": zap_vcs,
    "reclaim": reclaim_vcs,
}
