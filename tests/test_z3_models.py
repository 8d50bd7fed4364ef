"""The trusted base: each kernel helper's z3 model agrees with impl/kernel.py.

The VC generator inlines impl/kernel.py except the helpers listed in
``proofs.z3.models.MODELS_LIST``.  Each model here is run on a heap whose
fields are pinned to small concrete values, every path it answers is
solved to its concrete outcome, and the outcome is compared with what
impl/kernel.py does on the same state, exhaustively over the small states
named in the model's ``checked`` text.  A model that disagrees anywhere is
a model of something else.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3

from impl import kernel
from impl.kernel import MM, NULL, SWAP_MAP_MAX, VMA, Kernel, KmemCache, Page, PteChain, find_vma
from impl.rmap_fixed import FixedRmap
from impl.world import InjectedCache
from proofs.z3.heap import fresh_heap
from proofs.z3.invariants import world_facts
from proofs.z3.lift import Config, Executor
from proofs.z3.models import MODELS, MODELS_LIST
from proofs.z3.paths import Path, Site
from proofs.z3.values import Ptr, Ref, term

SITE = Site("tests/test_z3_models.py", 0, "model")
PAGE = 4096


def _outcomes(model: Any, pins: list[Any], args: tuple[Any, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Every feasible (kind, values) the model answers on the pinned heap: kind is
    "fault" or "return"; values are the probe terms solved to constants."""
    ex = Executor(FixedRmap, Config("bounded", unroll=1))
    h = fresh_heap("m")  # the same constants as the test's own fresh_heap("m")
    results = model.run(ex, Path((*world_facts(h), *pins), h), args, {}, SITE)
    out = []
    for path, value in results:
        got = _solve([*path.cond], {"value": _as_term(value), **_probes(path.heap)})
        if got is not None:
            out.append(("return", got))
    for f in ex.faults:
        if _solve(list(f.path.cond), {}) is not None:
            out.append(("fault", {"kind": f.kind}))
    return out


def _as_term(value: Any) -> Any:
    if isinstance(value, Ptr):
        return value.term
    if value is None or isinstance(value, Ref):
        return z3.IntVal(0 if value is None else 1)
    return term(value)


def _probes(h: Any) -> dict[str, Any]:
    return {
        "swap": h.select("swap.count", 7),
        "fail_next": h["slab.fail_next"],
        "succeed": h["slab.succeed"],
    }


def _solve(cond: list[Any], probes: dict[str, Any]) -> dict[str, Any] | None:
    # A context of its own: what earlier tests left in the main one can turn
    # a quantified query's answer into unknown, which must not read as unsat.
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.add(*[c.translate(ctx) for c in cond])
    answer = s.check()
    assert answer != z3.unknown, f"z3 answered unknown ({s.reason_unknown()}): no verdict on this path"
    if answer != z3.sat:
        return None
    m = s.model()
    return {
        k: m.eval(v.translate(ctx), model_completion=True).as_long()
        if z3.is_int(v)
        else str(m.eval(v.translate(ctx)))
        for k, v in probes.items()
    }


def test_every_model_says_how_it_is_checked() -> None:
    assert all(m.text and m.checked for m in MODELS_LIST)
    assert len(MODELS) == len(MODELS_LIST)


@pytest.mark.parametrize("count", [0, 1, 2, 3, SWAP_MAP_MAX - 1, SWAP_MAP_MAX])
def test_swap_duplicate_and_swap_free(count: int) -> None:
    for target in (Kernel.swap_duplicate, Kernel.swap_free):
        k = Kernel(swap_map={7: count})
        try:
            answer = target(k, 7)
            want = ("return", {"value": int(answer or 0), "swap": k.swap_map[7]})
        except kernel.Bug:
            want = ("fault", {"kind": "BUG"})
        h = fresh_heap("m")
        pins = [h.select("swap.count", 7) == count]
        got = [
            (kind, {k2: v for k2, v in vals.items() if k2 in want[1]})
            for kind, vals in _outcomes(MODELS[target], pins, (Ref(Kernel), z3.IntVal(7)))
        ]
        assert got == [want], (target.__name__, count)


@pytest.mark.parametrize("succeed", [0, 1, 2])
@pytest.mark.parametrize("fail_next", [0, 1, 2])
def test_alloc(succeed: int, fail_next: int) -> None:
    cache = InjectedCache("pte_chain", [], fail_next, succeed)
    obj = cache.alloc("GFP_ATOMIC")
    want = {
        "value": 0 if obj is NULL else 1,
        "fail_next": cache.fail_next,
        "succeed": cache.succeed,
    }
    h = fresh_heap("m")
    pins = [h["slab.fail_next"] == fail_next, h["slab.succeed"] == succeed]
    (kind, got), *more = _outcomes(MODELS[KmemCache.alloc], pins, (Ref(KmemCache), "GFP_ATOMIC"))
    assert not more and kind == "return"
    assert (int(got["value"] != 0), got["fail_next"], got["succeed"]) == (
        want["value"],
        want["fail_next"],
        want["succeed"],
    )
    assert isinstance(obj, PteChain) or obj is NULL


VMA_LISTS = [
    [],
    [VMA(2 * PAGE, 4 * PAGE)],
    [VMA(0, PAGE), VMA(3 * PAGE, 5 * PAGE)],
    [VMA(0, PAGE), VMA(2 * PAGE, 3 * PAGE), VMA(4 * PAGE, 6 * PAGE)],
]


@pytest.mark.parametrize("vmas", VMA_LISTS, ids=lambda v: f"{len(v)}-vmas")
def test_find_vma_answers_what_the_model_allows(vmas: list[VMA]) -> None:
    """find_vma's answer at every page address around the vmas is one the
    model allows: NULL, or a vma with vm_end above the address (the model
    leaves vm_start free: whether the vma contains the address is read
    from the vma)."""
    mm = MM("A", vmas=vmas)
    for address in range(0, 7 * PAGE, PAGE):
        vma = find_vma(mm, address)
        h = fresh_heap("m")
        m, a = z3.IntVal(1), z3.IntVal(address)
        found = vma is not None
        pins = [h.select("vma.found", m, a) == found]
        if vma is not None:
            pins += [h.select("vma.start", m, a) == vma.vm_start, h.select("vma.end", m, a) == vma.vm_end]
        outcomes = _outcomes(MODELS[find_vma], pins, (Ref(MM, (m,)), a))
        assert outcomes, (address, vma)  # the model allows the kernel's answer
        assert all(vals["value"] == int(found) for _, vals in outcomes)


def test_pfn_to_page_is_the_focus_page() -> None:
    """The environment assumption of every z3 obligation: one page at a time."""
    h = fresh_heap("m")
    outcomes = _outcomes(MODELS[Kernel.pfn_to_page], [h["page.pfn"] == 5], (Ref(Kernel), z3.IntVal(5)))
    assert [kind for kind, _ in outcomes] == ["return"]
    assert _outcomes(MODELS[Kernel.pfn_to_page], [h["page.pfn"] == 5], (Ref(Kernel), z3.IntVal(6))) == []
    assert Kernel(mem_map={5: Page(5)}).pfn_to_page(5).pfn == 5
