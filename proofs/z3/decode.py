"""A model of a pinned pre-state, as a trace that builds it with the real callers.

The bounded search (proofs.z3.search) looks for counterexamples in states
pinned by proofs.z3.pins: the page (pfn 1) maps ptes 1..n at chain
positions 0..n-1; pte n+1 is the argument a function may take.  ``decode``
writes the world (the page, the mms with vmas that make find_vma answer
what the model says for each pte's address, the ptes, the swap slot) and
the operations that make the model's state from it: ``map`` of the chain's
ptes last position first (page_add_rmap pushes at the head), their young
and dirty bits, the other CPU's locks, an allocation failure to come; then
the operation the obligation is about.  Replaying it on impl/ must show the
violation, or the model is not a counterexample.
"""

from __future__ import annotations

from typing import Any

import z3

from impl.kernel import VM_LOCKED, PG_dirty, PG_referenced, PG_reserved, PG_swapcache
from proofs.z3.heap import Heap
from proofs.z3.pins import SWAP_ENTRY, address

PFN = 1
IO_PFN = 2  # an I/O page (not valid) a present pte off the chain may map (search.world_pins' extra)
PAGE = 0x1000


def _value(model: z3.ModelRef, t: Any) -> Any:
    v = model.eval(t, model_completion=True)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    if z3.is_bv_value(v):
        return v.as_long()
    return v.as_long()


def _vmas(found: bool, start: int, end: int, flags: int, at: int) -> list[dict[str, Any]]:
    """A vma (or none) for which find_vma at ``at`` answers as the model
    says: start and end kept relative to the address, page-aligned."""
    if not found:
        return []
    # Rounded away from the address, so a vma that starts above it (by
    # less than a page, in the model) still starts above it.
    lo = at + max(-4, min(4, -(-(start - at) // PAGE))) * PAGE
    hi = at + max(1, min(4, -(-(end - at) // PAGE))) * PAGE
    hi = max(hi, lo + PAGE)
    return [{"start": lo, "end": hi, "locked": bool(flags & VM_LOCKED)}]


def decode(model: z3.ModelRef, h: Heap, n: int, function: str, args: Any) -> dict[str, Any]:
    """The trace (and what the model chose) for a pre-state pinned to n entries."""
    v = lambda t: _value(model, t)  # noqa: E731
    universe = list(range(1, n + 2))
    t = v(args.t) if args is not None and args.t is not None else None
    names = {p: f"p{p}" for p in universe}
    mm_of = {p: v(h.select("pte.mm", p)) for p in universe}
    mm_names = {m: f"M{m}" for m in sorted(set(mm_of.values()))}
    flags = v(h["page.flags"])
    bit = lambda b: bool(flags >> b & 1)  # noqa: E731
    present = {p: v(h.select("pte.present", p)) for p in universe}
    holds_swap = {p: not present[p] and v(h.select("pte.swap", p)) >= 0 for p in universe}
    mapped = list(range(1, n + 1))
    swapcache = bit(PG_swapcache)
    count = v(h["page.count"]) - n if not bit(PG_reserved) and v(h["page.valid"]) else v(h["page.count"])
    page: dict[str, Any] = {
        "pfn": PFN,
        "count": max(count, 0),
        "mapping": "file" if v(h["page.mapping"]) != 0 else None,
        "index": SWAP_ENTRY,
        "swapcache": swapcache,
        "referenced": bit(PG_referenced),
        "dirty": bit(PG_dirty),
        "reserved": bit(PG_reserved),
        "valid": v(h["page.valid"]),
    }
    # Each pte gets a slot of its own; in each mm the ptes that find_vma
    # finds no vma for come last, above every vma (as find_vma's NULL means).
    found = {p: v(h.select("vma.found", mm_of[p], address(p))) for p in universe}
    slots = {p: k for k, p in enumerate(sorted(universe, key=lambda q: (not found[q], q)), 1)}
    at = {p: address(slots[p]) for p in universe}
    mms: dict[int, list[dict[str, Any]]] = {m: [] for m in mm_names}
    for p in universe:
        m, a = mm_of[p], address(p)
        lookup = [v(h.select(f, m, a)) for f in ("vma.start", "vma.end", "vma.flags")]
        mms[m] += _vmas(found[p], lookup[0] - a + at[p], lookup[1] - a + at[p], lookup[2], at[p])
    ptes = [{"name": names[p], "mm": mm_names[mm_of[p]], "address": at[p]} for p in universe]
    for pte, p in zip(ptes, universe, strict=True):
        if holds_swap[p]:
            pte["swap"] = SWAP_ENTRY
    slot = v(h.select("swap.count", SWAP_ENTRY))
    swap = {str(SWAP_ENTRY): max(slot, 1)} if swapcache or any(holds_swap.values()) else {}
    # A present pte off the chain (world_pins' extra; never page_add_rmap's
    # argument, which the last operation maps) is mapped first.
    extra = n + 1 if present[n + 1] and function not in ("page_add_rmap", "map") else None
    extra_pfn = v(h.select("pte.pfn", n + 1)) if extra else PFN
    io = [{"pfn": IO_PFN, "count": 1, "valid": False}] if extra and extra_pfn != PFN else []
    world = {
        "op": "world",
        "pages": [page, *io],
        "mms": [{"name": mm_names[m], "vmas": sorted(vs, key=lambda x: x["start"])} for m, vs in mms.items()],
        "ptes": ptes,
        "swap": swap,
    }
    ops: list[dict[str, Any]] = [world]
    if extra:
        ops.append({"op": "map", "pte": names[extra], "pfn": extra_pfn})
    for p in reversed(mapped):
        ops.append({"op": "map", "pte": names[p], "pfn": PFN})
        ops.append(
            {
                "op": "set_pte",
                "pte": names[p],
                "young": v(h.select("pte.young", p)),
                "dirty": v(h.select("pte.dirty", p)),
            }
        )
    busy = sorted({mm_names[mm_of[p]] for p in universe if v(h.select("mm.lock", mm_of[p])) != 0})
    fail, after = v(h["slab.fail_next"]), v(h["slab.succeed"])
    env = {
        "lock busy": busy,
        "allocation failures to come": fail,
        "allocations that succeed first": after,
        "ptes": {names[p]: {"mm": mm_names[mm_of[p]], "present": present[p]} for p in universe},
    }
    last = _final(
        function,
        names.get(t) if t is not None else None,
        fail,
        after,
        v(args.dirty) if args and args.dirty is not None else False,
        t is not None and t <= n,
    )
    if function not in ("page_add_rmap", "map"):
        ops += [{"op": "lock", "mm": m} for m in busy]
    elif busy:
        env["lock busy"] = busy  # the fault path waits for none: the model's busy lock is not replayed
    ops += last
    return {"trace": ops, "env": env}


def _final(
    function: str, pte: str | None, fail: int, after: int, dirty: bool, on_chain: bool
) -> list[dict[str, Any]]:
    locked = [{"op": "set_page", "pfn": PFN, "locked": True}]
    match function:
        case "page_add_rmap" | "map":
            return [
                *([{"op": "fail_alloc", "n": fail, **({"after": after} if after else {})}] if fail else []),
                {"op": "map", "pte": pte, "pfn": PFN, "dirty": dirty},
            ]
        case "page_remove_rmap" if on_chain:
            # a pte on the chain that no longer maps the page: zap cleared it,
            # and is replayed as the caller that does (search.world_pins' extra)
            return [{"op": "zap", "pte": pte}]
        case "page_remove_rmap":
            return [{"op": "page_remove_rmap", "pfn": PFN, "pte": pte}]
        case "zap":
            return [{"op": "zap", "pte": pte}]
        case "try_to_unmap" | "try_to_unmap_one":
            # try_to_unmap_one is replayed as its caller calls it (raw, it
            # leaves the entry of the pte it unmapped for the caller to unlink)
            return [*locked, {"op": "try_to_unmap", "pfn": PFN}]
        case "page_referenced":
            return [{"op": "referenced", "pfn": PFN}]
        case "reclaim":
            return [{"op": "reclaim", "pfn": PFN}]
    raise ValueError(function)
