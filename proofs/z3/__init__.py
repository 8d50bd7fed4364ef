"""The z3 engine: obligations proved over VCs generated from impl/ itself.

Each obligation is one entry point (a seed function or caller path) of one
registered variant and one property (proofs.z3.properties).  Its VCs are
generated from the variant's Python by proofs.z3.lift (with the kernel
helpers it does not translate modelled in proofs.z3.models, the loops'
invariants in proofs.z3.loops and the chains' ghost postconditions in
proofs.z3.ghosts) and discharged by proofs.z3.prover; proofs.z3.run runs
one, and finds a replaying counterexample (proofs.z3.search) when it fails.
"""

from __future__ import annotations

from impl.variants import VARIANTS
from proofs.obligation import Obligation
from proofs.z3.properties import COUNTS, ENTRIES, FLUSH, PRESERVE, REFINE, RETURN, SPEC_REFINES

SHORT = {
    PRESERVE: "invariant preservation",
    REFINE: "refinement",
    SPEC_REFINES: "spec refines impl",
    COUNTS: "balanced counts",
    RETURN: "return value",
    FLUSH: "flush order",
}
STATEMENTS = {
    PRESERVE: "From any state satisfying the representation invariant (and the function's "
    "precondition), every path of {f} ends in a state satisfying it, without BUG, oops or deadlock.",
    REFINE: "For every environment outcome, α of the state {f} ends in is the state the spec "
    "operation allows from α of the state it started in, and its answer is one the spec allows.",
    SPEC_REFINES: "Wherever the spec's precondition holds, {f} takes its step without BUG, oops or "
    "deadlock (so, with refinement, every spec step is matched by an impl step).",
    COUNTS: "Each counter {f} touches moves by exactly what the spec says: rss per mm, the page's "
    "count, the swap slot's count, nr_reverse_maps; and the live pte_chain objects are exactly the "
    "chains' nodes.",
    RETURN: "What {f}'s caller branches on means what it should: try_to_unmap answers SWAP_SUCCESS "
    "exactly when no pte maps the page, SWAP_FAIL when some mapping can never be unmapped (shrink_cache "
    "activates the page), and SWAP_AGAIN only when every mapping that stayed stayed for AGAIN; reclaim "
    "frees the page only when no pte maps it.",
    FLUSH: "Every path of {f} changes a user pte as Documentation/cachetlb.txt orders it (impl.flush_rules, "
    "on the path's own event log): under its mm's page_table_lock, flush_cache_page first while the "
    "old translation is in place, flush_tlb_page after, before the lock is dropped.",
}
METHOD = "z3 unbounded, VCs generated from the code"


def obligations(variants: tuple[str, ...] | None = None) -> list[Obligation]:
    """The z3 obligations of every registered variant (or of those named)."""
    out = []
    for variant in variants or tuple(VARIANTS):
        for function, entry in ENTRIES.items():
            for prop in entry.properties:
                out.append(
                    Obligation(
                        name=f"{function} {SHORT[prop]}",
                        function=function,
                        prop=prop,
                        variant=variant,
                        statement=STATEMENTS[prop].format(f=function),
                        invariants=(),
                        method=METHOD,
                        runner="proofs.z3.run:prove",
                    )
                )
    return out


OBLIGATIONS: list[Obligation] = obligations()
