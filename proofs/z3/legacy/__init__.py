"""z3 proof obligations of the rmap, for both variants.

``OBLIGATIONS`` lists one Obligation per (function or caller path,
property, variant); each runs proofs.z3.legacy.run:prove, which builds its
verification conditions (proofs.z3.legacy.vcs) from the transitions
(proofs.z3.legacy.code), the invariant (proofs.z3.legacy.invariants) and the spec
(proofs.z3.legacy.spec), all over the state encoding of proofs.z3.legacy.state.
pte_chain_alloc and pte_chain_free are not obligations of their own: they
are inlined in the functions that call them (proofs.z3.legacy.code.alloc and
pte_chain_free), so every use of them is proven in its context.
"""

from __future__ import annotations

from proofs.obligation import Obligation

PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN = (
    "invariant preservation",
    "impl refines spec",
    "spec refines impl",
    "balanced counts",
    "return value",
)
SHORT = {
    PRESERVE: "invariant preservation",
    REFINE: "refinement",
    SPEC_REFINES: "spec refines impl",
    COUNTS: "balanced counts",
    RETURN: "return value",
}
STATEMENTS = {
    PRESERVE: "From any state satisfying the representation invariant (and the function's "
    "precondition), every path of {f} ends in a state satisfying it, without BUG, oops or deadlock.",
    REFINE: "For every environment outcome, α of the state {f} ends in is the state the spec "
    "operation allows from α of the state it started in, and its answer is one the spec allows.",
    SPEC_REFINES: "Wherever the spec's precondition holds, {f} takes its step without BUG, oops or "
    "deadlock (so, with refinement, every spec step is matched by an impl step).",
    COUNTS: "Each counter {f} touches moves by exactly what it counts moves: rss per mm, the page's "
    "count, the swap slot's count, nr_reverse_maps, and the live pte_chain objects are exactly the "
    "chain's nodes.",
    RETURN: "try_to_unmap answers SWAP_SUCCESS exactly when no pte maps the page any more, and "
    "otherwise the answer try_to_unmap_one gave for a pte that still maps it; reclaim frees the "
    "page only when no pte maps it.",
}
STRUCTURE = (
    "rep_direct_flag",
    "rep_chain_well_formed",
    "rep_no_duplicate_pte",
    "rep_chains_disjoint",
    "count_pte_chain_objects",
)
FULL = (
    *STRUCTURE,
    "rep_locks_released",
    "spec_rmap_sound",
    "spec_rmap_complete",
    "count_page_refs",
    "count_nr_reverse_maps",
)
COUNTERS = ("count_rss", "count_page_refs", "count_swap", "count_nr_reverse_maps", "count_pte_chain_objects")
FUNCTIONS: dict[str, tuple[tuple[str, ...], bool, tuple[str, ...]]] = {
    # function: (properties, has a chain walk, invariants it assumes and shows)
    "page_add_rmap": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS), False, (*FULL[:-2], "count_nr_reverse_maps")),
    "page_remove_rmap": (
        (PRESERVE, REFINE, SPEC_REFINES, COUNTS),
        True,
        (*FULL[:-2], "count_nr_reverse_maps"),
    ),
    "try_to_unmap": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN), True, FULL),
    "try_to_unmap_one": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS), False, FULL),
    "page_referenced": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS), True, FULL),
    "map": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS), False, FULL),
    "zap": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS), True, FULL),
    "reclaim": ((PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN), True, FULL),
}
# On seed, the obligations a finding explains (the first counterexample's).
SEED_FINDINGS = {
    ("page_add_rmap", PRESERVE): "F3",
    ("page_add_rmap", REFINE): "F3",
    ("page_add_rmap", SPEC_REFINES): "F3",
    ("page_remove_rmap", PRESERVE): "F4",
    ("page_remove_rmap", REFINE): "F4",
    ("page_remove_rmap", COUNTS): "F4",
    ("try_to_unmap", PRESERVE): "F2",
    ("try_to_unmap", REFINE): "F2",
    ("try_to_unmap", COUNTS): "F2",
    ("try_to_unmap_one", PRESERVE): "F2",
    ("try_to_unmap_one", REFINE): "F2",
    ("try_to_unmap_one", COUNTS): "F2",
    ("map", PRESERVE): "F3",
    ("map", REFINE): "F3",
    ("map", SPEC_REFINES): "F3",
    ("reclaim", PRESERVE): "F2",
    ("reclaim", REFINE): "F2",
    ("reclaim", COUNTS): "F2",
}


def _obligations() -> list[Obligation]:
    out = []
    for variant in ("seed", "fixed"):
        for function, (props, walks, invariants) in FUNCTIONS.items():
            for prop in props:
                used = invariants + (COUNTERS if prop == COUNTS else ())
                out.append(
                    Obligation(
                        name=f"{function} {SHORT[prop]}",
                        function=function,
                        prop=prop,
                        variant=variant,
                        statement=STATEMENTS[prop].format(f=function),
                        invariants=tuple(dict.fromkeys(used)),
                        method="z3 unbounded (inductive loop invariant)"
                        if walks
                        else "z3 unbounded (every path)",
                        runner="proofs.z3.legacy.run:prove",
                        finding=SEED_FINDINGS.get((function, prop)) if variant == "seed" else None,
                    )
                )
    return out


OBLIGATIONS: list[Obligation] = _obligations()
