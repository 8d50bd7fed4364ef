"""Counterexamples as traces: a z3 model of a pre-state becomes a world
description and the trace operations that build it with the real callers,
followed by the operation the obligation is about; replaying it on impl/
(impl.trace.Session) must show the violation, or the counterexample is not
reported as one.

The model's chain is laid out by ``pin_chain`` (pte k+1 at position k), so
the trace maps the ptes last position first (page_add_rmap pushes on the
head).  Each pte gets an address and vmas that make find_vma answer what
the model's ``vk`` says; an mm whose lock the model calls busy is locked by
another CPU after the mapping.
"""

from __future__ import annotations

from typing import Any

import z3

from impl.abstraction import Unabstractable, abstraction
from impl.refinement import Step, diff_states
from impl.trace import Session
from proofs.z3.legacy.state import HOLE, HOLE_LOCKED, LOCKED, NOVMA, VMA_KINDS, State

SLOT = 0x10000
PFN = 1


def _val(model: z3.ModelRef, term: Any) -> Any:
    v = model.eval(term, model_completion=True)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()


def _layout(kinds: list[tuple[str, int]]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Addresses for one mm's ptes and its vmas, so that find_vma answers
    each pte's kind; ptes that no vma may lie above come last."""
    order = sorted(kinds, key=lambda item: item[1] == NOVMA)
    addresses: dict[str, int] = {}
    vmas: list[dict[str, Any]] = []
    for slot, (name, kind) in enumerate(order, 1):
        base = slot * SLOT
        addresses[name] = base
        if kind == NOVMA:
            continue
        start = base + 0x1000 if kind in (HOLE, HOLE_LOCKED) else base
        vmas.append({"start": start, "end": start + 0x1000, "locked": kind in (LOCKED, HOLE_LOCKED)})
    return addresses, vmas


def decode(model: z3.ModelRef, s: State, n: int, function: str, arg: Any = None) -> dict[str, Any]:
    """The trace (and what the model chose) for a pinned pre-state of length n."""
    v = lambda term: _val(model, term)  # noqa: E731
    ptes = list(range(1, n + 1))
    t = v(arg) if arg is not None else None
    extra = [t] if t is not None and t not in ptes else []
    everyone = ptes + extra
    mm_of = {p: v(s.pmm[p]) for p in everyone}
    mm_names = {m: "ABCDEFGH"[i] for i, m in enumerate(sorted(set(mm_of.values())))}
    name = {p: f"p{p}" for p in everyone}
    kinds: dict[int, list[tuple[str, int]]] = {}
    for p in everyone:
        kinds.setdefault(mm_of[p], []).append((name[p], v(s.vk[p])))
    mms, address = [], {}
    for m, items in kinds.items():
        addrs, vmas = _layout(items)
        address.update(addrs)
        mms.append({"name": mm_names[m], "vmas": vmas})
    entry = v(s.index)
    swapcache = v(s.swapcache)
    page = {
        "pfn": PFN,
        "count": v(s.count) - n,
        "mapping": "file",
        "index": entry,
        "swapcache": swapcache,
        "referenced": v(s.referenced),
        "dirty": v(s.dirty),
    }
    world = {
        "op": "world",
        "pages": [page],
        "mms": mms,
        "ptes": [{"name": name[p], "mm": mm_names[mm_of[p]], "address": address[name[p]]} for p in everyone],
        "swap": {str(entry): max(v(s.swap[entry]), 1)} if swapcache else {},
    }
    ops: list[dict[str, Any]] = [world]
    for p in reversed(ptes):
        ops.append({"op": "map", "pte": name[p], "pfn": PFN, "dirty": v(s.pd[p])})
        ops.append({"op": "set_pte", "pte": name[p], "young": v(s.py[p]), "dirty": v(s.pd[p])})
    busy = sorted({mm_names[mm_of[p]] for p in everyone if v(s.busy[mm_of[p]])})
    env = {
        "ptes": {name[p]: VMA_KINDS[v(s.vk[p])] for p in everyone},
        "lock busy": busy,
        "swap cache": swapcache,
        "allocation fails": v(s.fail_next) > 0,
    }
    final = _final_ops(function, t and name[t], v(s.fail_next))
    ops += [{"op": "lock", "mm": m} for m in busy if function not in ("page_add_rmap", "map")]
    ops += final
    return {"trace": ops, "env": env}


def _final_ops(function: str, pte: str | None, fail_next: int) -> list[dict[str, Any]]:
    locked = [{"op": "set_page", "pfn": PFN, "locked": True}]
    match function:
        case "page_add_rmap" | "map":
            return [
                *([{"op": "fail_alloc", "n": fail_next}] if fail_next else []),
                {"op": "map", "pte": pte, "pfn": PFN},
            ]
        case "page_remove_rmap":
            return [{"op": "page_remove_rmap", "pfn": PFN, "pte": pte}]
        case "zap":
            return [{"op": "zap", "pte": pte}]
        case "try_to_unmap" | "try_to_unmap_one":
            return [*locked, {"op": "try_to_unmap", "pfn": PFN}]
        case "page_referenced":
            return [{"op": "referenced", "pfn": PFN}]
        case "reclaim":
            # page_referenced first clears the young bits map set, so that
            # reclaim goes on to try_to_unmap, as the seed's callers see it
            return [{"op": "referenced", "pfn": PFN}, {"op": "reclaim", "pfn": PFN}]
    raise ValueError(function)


def replay(trace: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Replay on impl/; the verdict and what the last step did."""
    session = Session(variant)
    records = []
    chain_before: Any = None
    spec_text: dict[str, Any] = {}
    for op in trace:
        if op is trace[-1] and session.rmap is not None:
            chain_before = _chain(session)
            step = Step.before(session.k, op["op"], op)
            records.append(session.apply(op))
            spec_text = _spec_beside_impl(session, step)
        else:
            records.append(session.apply(op))
    last = records[-1]
    shows = bool(last["violations"] or last["spec_mismatch"] or last["fault"])
    return {
        "shows": shows,
        "violations": last["violations"],
        "spec_mismatch": last["spec_mismatch"],
        "fault": last["fault"],
        "result": last["result"],
        "chain_before": chain_before,
        "chain_after": _chain(session),
        **spec_text,
    }


def _chain(session: Session) -> Any:
    page = session.page(PFN)
    record = session.record("probe", None)
    mine = next(p for p in record["pages"] if p["pfn"] == page.pfn)
    return {"direct": mine["direct"], "entries": mine["rmap"], "nodes": mine["chain_nodes"]}


def _spec_beside_impl(session: Session, step: Step | None) -> dict[str, Any]:
    if step is None or step.pre is None or not step.precondition():
        return {}
    try:
        post = abstraction(session.k)
    except Unabstractable as why:
        return {"spec": "—", "impl": f"no abstraction: {why}"}
    _, want = step.allowed()[0]
    lines = diff_states(want, post)
    return {
        "spec": [line.split(", impl ")[0] for line in lines],
        "impl": [line.split(": ", 1)[0] + ": " + line.split(", impl ")[-1] for line in lines],
    }
