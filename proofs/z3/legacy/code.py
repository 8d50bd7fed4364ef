"""The seed's functions and their callers as z3 transitions, per variant.

Each function is written statement by statement after impl/rmap_seed.py
and impl/rmap_fixed.py (and impl/callers.py), as functional updates of a
``State``: an ``if`` becomes ``z3.If`` over the states of its branches.
A loop is given as its three parts, ``*_start`` (the state before the
first test), ``*_step`` (one iteration, one branch per case) and
``*_exit`` (after the test failed), so that the proofs can put an
inductive invariant between them while ``run`` (used by the tests on
concrete states and by the bounded searches) simply iterates them.

tests/test_z3_encoding.py checks every function here against the Python
on concrete states built by the real callers; that test is what ties the
proofs to the code that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import z3

from impl.kernel import ENOMEM, SWAP_AGAIN, SWAP_FAIL, SWAP_MAP_MAX, SWAP_SUCCESS
from proofs.z3.legacy.state import (
    BUG,
    DEADLOCK,
    HOLE_LOCKED,
    LOCKED,
    NOVMA,
    NULL,
    OK,
    OOPS,
    PAGE,
    SWAP,
    State,
    cond,
    ite,
    normal,
)

# shrink_cache's disposition of the page (spec.ops ACTIVATE, KEEP, FREE)
ACTIVATE, KEEP, FREE = 0, 1, 2
DISPOSITIONS = {ACTIVATE: "activate", KEEP: "keep_inactive", FREE: "free"}
NO_RESULT = -1


def fault_if(s: State, cond: Any, kind: int) -> State:
    """The first fault a path meets is the one it stops with."""
    return s.but(fault=z3.If(z3.And(s.fault == 0, cond), kind, s.fault))


def stores(arr: Any, key: Any, value: Any) -> Any:
    return z3.Store(arr, key, value)


# ------------------------------------------------------------ kernel helpers


def pte_chain_free(s: State, pc: Any, prev: Any, page: bool) -> State:
    """[rmap.c:335] unlink pc after prev (or from the page's head), free it."""
    s = fault_if(s, z3.And(pc == NULL, z3.Or(prev != NULL, page)), OOPS)
    nxt_pc = s.nxt[pc]
    nxt = z3.If(prev != NULL, stores(s.nxt, prev, nxt_pc), s.nxt)
    if page:
        s = s.but(word=z3.If(prev != NULL, s.word, nxt_pc), wpte=z3.If(prev != NULL, s.wpte, False))
    s = fault_if(s.but(nxt=nxt), z3.Not(s.live[pc]), BUG)  # kmem_cache_free of a dead object
    return s.but(live=stores(s.live, pc, False))


def alloc(s: State, node: Any) -> tuple[State, Any]:
    """kmem_cache_alloc(GFP_ATOMIC): NULL while fail_next > 0, else ``node``."""
    fails = s.fail_next > 0
    got = s.but(live=stores(s.live, node, True))
    failed = s.but(fail_next=s.fail_next - 1)
    return ite(fails, failed, got), z3.If(fails, NULL, node)


def page_cache_release(s: State) -> State:
    return fault_if(s, s.count <= 0, BUG).but(count=s.count - 1)


def swap_duplicate(swap: Any, entry: Any) -> Any:
    c = swap[entry]
    return z3.If(z3.And(c > 0, c < SWAP_MAP_MAX), stores(swap, entry, c + 1), swap)


def swap_free(s: State, entry: Any) -> State:
    c = s.swap[entry]
    s = fault_if(s, c <= 0, BUG)
    return s.but(swap=z3.If(z3.And(c > 0, c < SWAP_MAP_MAX), stores(s.swap, entry, c - 1), s.swap))


def set_pte(s: State, p: Any, kind: Any, target: Any, young: Any, dirty: Any) -> State:
    return s.but(
        pk=stores(s.pk, p, kind),
        pt=stores(s.pt, p, target),
        py=stores(s.py, p, young),
        pd=stores(s.pd, p, dirty),
    )


def chain_lock(s: State) -> State:
    return fault_if(s, s.chainlock, DEADLOCK).but(chainlock=True)


def chain_unlock(s: State) -> State:
    return fault_if(s, z3.Not(s.chainlock), BUG).but(chainlock=False)


def mm_add(s: State, p: Any, delta: int) -> State:
    mm = s.pmm[p]
    return s.but(rss=stores(s.rss, mm, s.rss[mm] + delta))


# ------------------------------------------------------------ page_add_rmap


def page_add_rmap(s: State, t: Any, variant: str) -> tuple[State, Any]:
    """[rmap.c:86] for a pte ``t`` that maps this page (its contract).
    Answers 0 (void) or -ENOMEM (fixed variant only)."""
    skip = z3.Or(z3.Not(s.valid), s.reserved)
    s1 = chain_lock(s)
    if variant == "fixed":
        # FIX(F3): take every node first; -ENOMEM changes nothing
        wanted = z3.If(s1.direct, 2, z3.If(s1.word != NULL, 1, 0))
        nomem = z3.And(wanted > 0, s1.fail_next > 0)
        gave_up = chain_unlock(s1.but(fail_next=s1.fail_next - 1))
        live = z3.If(wanted > 0, stores(s1.live, s1.fresh1, True), s1.live)
        live = z3.If(wanted > 1, stores(live, s1.fresh2, True), live)
        got = s1.but(live=live)
        # nodes.pop() hands out the node taken last first
        converted = ite(s1.direct, _convert(got, s1.fresh2), got)
        done = _finish_add(converted, _push(converted, t, s1.fresh1), t)
        out = ite(nomem, gave_up, done)
        return ite(skip, s, out), z3.If(z3.And(z3.Not(skip), nomem), -ENOMEM, 0)
    # seed: pte_chain_alloc's NULL is written through (F3)
    conv, node1 = alloc(s1, s1.fresh1)
    conv = _convert(fault_if(conv, node1 == NULL, OOPS), node1)
    s2 = ite(s1.direct, conv, s1)
    push, node2 = alloc(s2, z3.If(s1.direct, s1.fresh2, s1.fresh1))
    push = _push(fault_if(push, node2 == NULL, OOPS), t, node2)
    return ite(skip, s, _finish_add(s2, push, t)), z3.IntVal(0)


def _convert(s: State, node: Any) -> State:
    """[rmap.c:119] the direct pointer becomes a one-node chain."""
    return s.but(
        ptep=stores(s.ptep, node, s.word), nxt=stores(s.nxt, node, NULL), word=node, wpte=False, direct=False
    )


def _push(s: State, t: Any, node: Any) -> State:
    """[rmap.c:127] push a node naming t on the head of the chain."""
    return s.but(ptep=stores(s.ptep, node, t), nxt=stores(s.nxt, node, s.word), word=node, wpte=False)


def _finish_add(s: State, pushed: State, t: Any) -> State:
    """[rmap.c:126-136] pushed if the page has a chain, else direct."""
    direct = s.but(word=t, wpte=True, direct=True)
    s = chain_unlock(ite(s.word != NULL, pushed, direct))
    return s.but(nr=s.nr + 1)


# ------------------------------------------------------------ page_remove_rmap


@dataclass(frozen=True)
class Walk:
    """A chain walk's loop state: the kernel state and the walk's locals."""

    s: State
    pc: Any
    prev: Any
    ret: Any  # page_referenced: the count; try_to_unmap: ret; remove: found
    witness: Any = 0  # try_to_unmap: the position whose outcome ret is (a ghost)

    def but(self, **changes: Any) -> Walk:
        return replace(self, **changes)


def walk_ite(c: Any, a: Walk, b: Walk) -> Walk:
    return Walk(
        ite(c, a.s, b.s),
        cond(c, a.pc, b.pc),
        cond(c, a.prev, b.prev),
        cond(c, a.ret, b.ret),
        cond(c, a.witness, b.witness),
    )


def remove_skip(s: State) -> Any:
    return z3.Or(z3.Not(s.valid), s.reserved)


def _remove_out(s: State) -> State:
    s = s.but(nr=s.nr - 1)
    return chain_unlock(s)


def _not_found(s: State, variant: str) -> State:
    # seed [rmap.c:191] falls into out: and uncounts; FIX(F4) only unlocks
    return _remove_out(s) if variant == "seed" else chain_unlock(s)


def remove_direct(s: State, t: Any, variant: str) -> State:
    """page_remove_rmap on a direct page, after the lock was taken."""
    hit = _remove_out(s.but(word=NULL, wpte=False, direct=False))
    return ite(s.word == t, hit, _not_found(s, variant))


def remove_start(s: State) -> Walk:
    """The chain branch: the lock taken, pc at the head, not yet found."""
    s = chain_lock(s)
    return Walk(s, s.word, NULL, z3.BoolVal(False))


def remove_found(w: Walk) -> State:
    """[rmap.c:166] unlink pc; collapse a one-entry chain to direct."""
    s = pte_chain_free(w.s, w.pc, w.prev, page=True)
    head = s.word
    s = fault_if(s, head == NULL, OOPS)
    collapsed = pte_chain_free(
        s.but(word=s.ptep[head], wpte=True, direct=True), head, z3.IntVal(NULL), page=False
    )
    s = ite(s.nxt[head] == NULL, collapsed, s)
    return _remove_out(s)


def remove_step(w: Walk, t: Any) -> list[tuple[Any, Walk]]:
    """One iteration with pc != NULL: found here (done), or move on."""
    found = w.s.ptep[w.pc] == t
    return [
        (found, Walk(remove_found(w), w.pc, w.prev, z3.BoolVal(True))),
        (z3.Not(found), w.but(prev=w.pc, pc=w.s.nxt[w.pc])),
    ]


def remove_exit(w: Walk, variant: str) -> State:
    """The walk ended without finding t."""
    return _not_found(w.s, variant)


def page_remove_rmap(s: State, t: Any, variant: str, bound: int) -> State:
    direct = remove_direct(chain_lock(s), t, variant)
    w = remove_start(s)
    for _ in range(bound):
        active = z3.And(z3.Not(w.ret), w.pc != NULL)
        w = walk_ite(active, merge(remove_step(w, t)), w)
    chained = ite(w.ret, w.s, remove_exit(w, variant))
    return ite(remove_skip(s), s, ite(s.direct, direct, chained))


def merge(cases: list[tuple[Any, Walk]]) -> Walk:
    out = cases[-1][1]
    for guard, w in reversed(cases[:-1]):
        out = walk_ite(guard, w, out)
    return out


# ------------------------------------------------------------ try_to_unmap_one


def unmap_outcome(s: State, p: Any, variant: str) -> Any:
    """What try_to_unmap_one answers for p: the seed's find_vma test only
    rejects NULL, so a hole below an unlocked vma passes (F5)."""
    if variant == "fixed":
        vma_fails = s.vk[p] != OK
    else:
        vma_fails = z3.Or(s.vk[p] == NOVMA, s.vk[p] == LOCKED, s.vk[p] == HOLE_LOCKED)
    return z3.If(s.busy[s.pmm[p]], SWAP_AGAIN, z3.If(vma_fails, SWAP_FAIL, SWAP_SUCCESS))


def unmap_one_success(s: State, p: Any) -> State:
    """[rmap.c:238-253] the pte is nuked; swap entry, dirty bit, rss, count."""
    was_dirty = s.pd[p]
    s = set_pte(s, p, 0, 0, False, False)
    in_swap = s.but(swap=swap_duplicate(s.swap, s.index))
    in_swap = set_pte(in_swap, p, SWAP, s.index, False, False)
    s = ite(s.swapcache, in_swap, s)
    s = s.but(dirty=z3.Or(s.dirty, was_dirty))
    return page_cache_release(mm_add(s, p, -1))


def try_to_unmap_one(s: State, p: Any, variant: str) -> tuple[State, Any]:
    r = unmap_outcome(s, p, variant)
    gone = unmap_one_success(s, p)
    if variant == "fixed":
        gone = gone.but(nr=gone.nr - 1)  # FIX(F2)
    return ite(r == SWAP_SUCCESS, gone, s), r


# ------------------------------------------------------------ try_to_unmap


def unmap_checks(s: State) -> State:
    """[rmap.c:276-283] the BUG()s on the page try_to_unmap is given."""
    s = fault_if(s, s.reserved, BUG)
    s = fault_if(s, z3.Not(s.locked), BUG)
    return fault_if(s, z3.Not(s.mapping), BUG)


def unmap_direct(s: State, variant: str) -> tuple[State, Any]:
    s1, r = try_to_unmap_one(s, s.word, variant)
    gone = s1.but(word=NULL, wpte=False, direct=False)
    return ite(r == SWAP_SUCCESS, gone, s1), r


def unmap_start(s: State) -> Walk:
    return Walk(s, s.word, NULL, z3.IntVal(SWAP_SUCCESS), z3.IntVal(-1))


def unmap_step(w: Walk, variant: str, position: Any = -1) -> list[tuple[Any, Walk]]:
    """One iteration at node pc: one case per try_to_unmap_one answer.
    ``position`` is pc's chain position (a ghost the proofs track)."""
    next_pc = w.s.nxt[w.pc]
    s1, r = try_to_unmap_one(w.s, w.s.ptep[w.pc], variant)
    freed = pte_chain_free(s1, w.pc, w.prev, page=True)
    success = Walk(freed, next_pc, w.prev, w.ret, w.witness)
    again = Walk(s1, next_pc, w.pc, z3.IntVal(SWAP_AGAIN), position)
    # seed [rmap.c:302]: `break` keeps prev_pc; FIX(F1) makes pc prev_pc
    failed = Walk(s1, next_pc, w.pc if variant == "fixed" else w.prev, z3.IntVal(SWAP_FAIL), position)
    return [(r == SWAP_SUCCESS, success), (r == SWAP_AGAIN, again), (r == SWAP_FAIL, failed)]


def unmap_exit(s: State) -> State:
    """[rmap.c:313] collapse a one-entry chain to direct."""
    head = s.word
    collapse = z3.And(head != NULL, s.nxt[head] == NULL)
    collapsed = pte_chain_free(s.but(word=s.ptep[head], wpte=True, direct=True), head, z3.IntVal(NULL), False)
    return ite(collapse, collapsed, s)


def try_to_unmap(s: State, variant: str, bound: int) -> tuple[State, Any]:
    s = unmap_checks(s)
    direct, r_direct = unmap_direct(s, variant)
    w = unmap_start(s)
    for _ in range(bound):
        w = walk_ite(w.pc != NULL, merge(unmap_step(w, variant)), w)
    return ite(s.direct, direct, unmap_exit(w.s)), z3.If(s.direct, r_direct, w.ret)


# ------------------------------------------------------------ page_referenced


def referenced_start(s: State) -> Walk:
    """[rmap.c:63] TestClearPageReferenced, then the chain from its head."""
    count = z3.If(s.referenced, 1, 0)
    s = s.but(referenced=False)
    return Walk(s, s.word, NULL, count)


def test_clear_young(w: Walk, p: Any) -> Walk:
    s = fault_if(w.s, p == NULL, OOPS)
    return w.but(s=s.but(py=stores(s.py, p, False)), ret=w.ret + z3.If(s.py[p], 1, 0))


def referenced_step(w: Walk) -> Walk:
    return test_clear_young(w, w.s.ptep[w.pc]).but(pc=w.s.nxt[w.pc])


def page_referenced(s: State, bound: int) -> tuple[State, Any]:
    w0 = referenced_start(s)
    direct = test_clear_young(w0, s.word)
    w = w0
    for _ in range(bound):
        w = walk_ite(w.pc != NULL, referenced_step(w), w)
    out = walk_ite(s.direct, direct, w)
    return out.s, out.ret


# ------------------------------------------------------------ callers


def pre_map_caller(s: State, t: Any) -> Any:
    """map's CallerPrecondition: t is not present and its mm's lock is free."""
    return z3.And(s.pk[t] != PAGE, z3.Not(s.busy[s.pmm[t]]))


def map_prefix(s: State, t: Any, dirty: Any) -> State:
    """impl.callers.map_pte up to page_add_rmap: reference, rss, the pte."""
    taken = page_get(mm_add(s, t, +1))
    s = ite(normal(s), taken, s)
    return set_pte(s, t, PAGE, s.pfn, True, dirty)


def page_get(s: State) -> State:
    return s.but(count=s.count + 1)


def map_suffix(before: State, s: State, t: Any, added: Any) -> tuple[State, Any]:
    """After page_add_rmap: back out on -ENOMEM, else give up the old swap
    reference.  Answers 0 mapped, 1 oom."""
    old_kind, old_target, old_young, old_dirty = before.pk[t], before.pt[t], before.py[t], before.pd[t]
    backed = set_pte(s, t, old_kind, old_target, old_young, old_dirty)
    backed = ite(normal(before), page_cache_release(mm_add(backed, t, -1)), backed)
    mapped = ite(old_kind == SWAP, swap_free(s, old_target), s)
    oom = added == -ENOMEM
    return ite(oom, backed, mapped), z3.If(oom, 1, 0)


def map_pte(s: State, t: Any, dirty: Any, variant: str) -> tuple[State, Any]:
    s1 = map_prefix(s, t, dirty)
    s2, added = page_add_rmap(s1, t, variant)
    return map_suffix(s, s2, t, added)


def pre_zap_caller(s: State, t: Any) -> Any:
    """zap's CallerPrecondition: t holds something, its mm's lock is free."""
    return z3.And(s.pk[t] != 0, z3.Not(s.busy[s.pmm[t]]))


def zap_prefix(s: State, t: Any) -> State:
    return set_pte(s, t, 0, 0, False, False)


def zap_takes_page(before: State, t: Any) -> Any:
    """The zapped pte was present with a valid pfn (this page's)."""
    return z3.And(before.pk[t] == PAGE, before.valid)


def zap_suffix(before: State, s: State, t: Any) -> State:
    """After page_remove_rmap: dirty bit, reference, rss; or the swap slot."""
    released = page_cache_release(s.but(dirty=z3.Or(s.dirty, before.pd[t])))
    released = mm_add(released, t, -1)
    paged = ite(s.reserved, s, released)
    swapped = swap_free(s, before.pt[t])
    return ite(zap_takes_page(before, t), paged, ite(before.pk[t] == SWAP, swapped, s))


def zap_pte(s: State, t: Any, variant: str, bound: int) -> State:
    s1 = zap_prefix(s, t)
    removed = page_remove_rmap(s1, t, variant, bound)
    return zap_suffix(s, ite(zap_takes_page(s, t), removed, s1), t)


def pre_reclaim_caller(s: State) -> Any:
    """reclaim's CallerPrecondition (the pagemap_lru_lock is not modelled:
    nothing in the seed touches it)."""
    return z3.And(z3.Not(s.reserved), s.mapping, z3.Not(s.locked), z3.Not(s.chainlock))


def reclaim_prefix(s: State) -> State:
    return chain_lock(s.but(locked=True))


def reclaim_suffix(s: State) -> State:
    return chain_unlock(s).but(locked=False)


def disposition(referenced: Any, word: Any, swap_result: Any) -> Any:
    by_result = z3.If(swap_result == SWAP_SUCCESS, FREE, z3.If(swap_result == SWAP_AGAIN, KEEP, ACTIVATE))
    return z3.If(referenced > 0, ACTIVATE, z3.If(word != NULL, by_result, FREE))


def reclaim(s: State, variant: str, bound: int) -> tuple[State, Any, Any, Any]:
    """Answers (state, referenced, try_to_unmap's result or -1, disposition)."""
    s1, ref = page_referenced(reclaim_prefix(s), bound)
    s2, r = try_to_unmap(s1, variant, bound)
    asked = z3.And(ref == 0, s1.word != NULL)
    out = ite(asked, s2, s1)
    return reclaim_suffix(out), ref, z3.If(asked, r, NO_RESULT), disposition(ref, s1.word, r)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "page_add_rmap": page_add_rmap,
    "page_remove_rmap": page_remove_rmap,
    "try_to_unmap_one": try_to_unmap_one,
    "try_to_unmap": try_to_unmap,
    "page_referenced": page_referenced,
    "map": map_pte,
    "zap": zap_pte,
    "reclaim": reclaim,
}
