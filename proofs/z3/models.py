"""The trusted base of the VC generator: the kernel helpers it does not translate.

Every other helper of impl/kernel.py (the page-flag functions, the pte
accessors, the spinlocks and pte_chain_lock, get_page and
page_cache_release, inc/dec_page_state, BUG) is translated from its
source like the rmap code.  These few are given a model instead, because
their Python walks a list or a dict that the symbolic state keeps as an
array; each model is small, says what it assumes, and is checked against
impl/kernel.py by tests/test_z3_models.py, exhaustively on small states.
The other trusted piece of the z3 obligations is the spec they are
stated against, proofs.z3.spec (spec/ops.py over the symbolic state),
checked against spec/ops.py by tests/test_z3_spec.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import z3

from impl import callers, kernel
from impl.kernel import SWAP_MAP_MAX, VMA, Event, KmemCache, Page
from proofs.z3.values import Ptr, Record, Ref, term

if TYPE_CHECKING:
    from proofs.z3.lift import Executor
    from proofs.z3.paths import Path, Site

Results = list[tuple["Path", Any]]
# The ids pte_chain_alloc hands out, in order, on any one path: negative
# (pte_chain nodes), distinct, and (world facts) not live, on no chain.
FRESH_NODES = 4


def fresh_node(k: int) -> Any:
    return z3.Int(f"fresh.node{k}")


@dataclass(frozen=True)
class Model:
    target: Callable[..., Any]
    text: str  # what the model does, in English
    checked: str  # how tests/test_z3_models.py checks it against impl/kernel.py
    run: Callable[[Executor, Path, tuple[Any, ...], dict[str, Any], Site], Results]

    @property
    def name(self) -> str:
        return self.target.__qualname__


def _find_vma(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    mm, addr = args
    m, a = mm.key[0], term(addr)
    h = path.heap
    found = h.select("vma.found", m, a)
    out: Results = []
    for arm, taken in ex.fork(path, found, site, ("vma", "NULL")):
        if arm:
            out.append((taken.assume(h.select("vma.end", m, a) > a), Ref(VMA, (m, a))))
        else:
            out.append((taken, None))
    return out


def _vma_of(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    (ptep,) = args
    p, h = ptep.term, path.heap
    return [(path, Ref(VMA, (h.select("pte.mm", p), h.select("pte.address", p))))]


def _alloc(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    h = path.heap
    succeed, fail_next = h["slab.succeed"], h["slab.fail_next"]
    fails = z3.And(succeed <= 0, fail_next > 0)
    out: Results = []
    for arm, taken in ex.fork(path, fails, site, ("GFP_ATOMIC fails", "allocates")):
        if arm:
            out.append((taken.but(heap=h.set("slab.fail_next", fail_next - 1)), Ptr(z3.IntVal(0))))
            continue
        if taken.fresh >= FRESH_NODES:
            raise ex.unsupported(site, f"more than {FRESH_NODES} allocations on one path")
        node = fresh_node(taken.fresh)
        heap = h.set("slab.succeed", z3.If(succeed > 0, succeed - 1, succeed))
        heap = heap.store("slab.live", node, z3.BoolVal(True))
        heap = heap.store("node.next", node, z3.IntVal(0)).store("node.ptep", node, z3.IntVal(0))
        out.append((taken.but(heap=heap, fresh=taken.fresh + 1), Ptr(node)))
    return out


def _free(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    obj = args[1]
    x = obj.term if isinstance(obj, Ptr) else z3.IntVal(0)
    h = path.heap
    live = z3.And(x < 0, h.select("slab.live", x))
    ex.fault(path, z3.Not(live), "BUG", "kmem_cache_free of an object not live in pte_chain", site)
    on = path.assume(live)
    return [(on.but(heap=on.heap.store("slab.live", x, z3.BoolVal(False))), None)]


def _swap_duplicate(
    ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site
) -> Results:
    e = term(args[1])
    h = path.heap
    c = h.select("swap.count", e)
    heap = h.store("swap.count", e, z3.If(z3.And(c > 0, c < SWAP_MAP_MAX), c + 1, c))
    return [(path.but(heap=heap), z3.If(c > 0, 1, 0))]


def _swap_free(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    e = term(args[1])
    h = path.heap
    c = h.select("swap.count", e)
    ex.fault(path, c <= 0, "BUG", "swap_free of unused swap entry", site)
    on = path.assume(c > 0)
    return [(on.but(heap=h.store("swap.count", e, z3.If(c < SWAP_MAP_MAX, c - 1, c))), None)]


def _pfn_valid(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    pfn = term(args[1])
    h = path.heap
    return [(path, z3.If(pfn == h["page.pfn"], h["page.valid"], h.select("mem.valid", pfn)))]


def _pfn_to_page(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    pfn = term(args[1])
    return [(path.assume(pfn == path.heap["page.pfn"]), Ref(Page))]


def _printk(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
    return [(path, None)]


def _flush(kind: str) -> Callable[..., Results]:
    def run(ex: Executor, path: Path, args: tuple[Any, ...], kw: dict[str, Any], site: Site) -> Results:
        vma, address = args[1], args[2]
        event = Record(
            Event, (("kind", kind), ("mm", vma.key[0]), ("address", term(address)), ("present", False))
        )
        return [(path.event(event), None)]

    return run


MODELS_LIST: tuple[Model, ...] = (
    Model(
        kernel.find_vma,
        "find_vma(mm, address) answers NULL, or a vma with vm_end > address, as the state's "
        "vma.found/start/end/flags at (mm, address) say: a function of mm and address, so two lookups "
        "agree; whether it contains the address is the vma's own vm_start.",
        "every answer of impl.kernel.find_vma on sorted, disjoint vma lists of up to 3 vmas and every "
        "page address around them is one the model allows",
        _find_vma,
    ),
    Model(
        callers._vma_of,
        "The callers' vma of a pte: the one that holds it (or a one-page stand-in), standing for "
        "the pte's mm and address; the model gives it no other property, and the callers read none.",
        "no test of its own yet: tests/test_flush_rules.py checks that the callers' flushes name the "
        "pte's mm and address",
        _vma_of,
    ),
    Model(
        KmemCache.alloc,
        "GFP_ATOMIC allocation (impl.world.InjectedCache, a trace's fail_alloc): the first "
        "slab.succeed allocations succeed, the slab.fail_next after them answer NULL, the rest "
        "succeed; a success is a fresh pte_chain node (next and ptep NULL), live from now on.",
        "alloc with fail_next 0..2 on caches of 0..2 live objects: same answer kind, same fail_next, "
        "live objects grow by exactly the new one",
        _alloc,
    ),
    Model(
        KmemCache.free,
        "kmem_cache_free: BUG unless the object is a live pte_chain node; it is not live afterwards.",
        "no test of its own yet: the contracts and the stateful test drive impl.kernel's free on the "
        "same paths (a BUG there is a fault here)",
        _free,
    ),
    Model(
        kernel.Kernel.swap_duplicate,
        "One more reference to a swap slot unless it is unused (count 0, answer 0) or saturated at "
        "SWAP_MAP_MAX (kept there, answer 1).",
        "every count 0..3 and SWAP_MAP_MAX-1..SWAP_MAP_MAX, and an entry not in swap_map",
        _swap_duplicate,
    ),
    Model(
        kernel.Kernel.swap_free,
        "One fewer reference to a swap slot; BUG for an unused one; a saturated slot keeps its count.",
        "the same counts as swap_duplicate",
        _swap_free,
    ),
    Model(
        kernel.Kernel.pfn_valid,
        "pfn_valid: the focus page's page.valid for its own pfn, mem.valid for any other.",
        "no test of its own yet: it reads the same validity the world builder sets",
        _pfn_valid,
    ),
    Model(
        kernel.Kernel.pfn_to_page,
        "pfn_to_page answers the focus page: an obligation is about one page, and its precondition says "
        "which ptes map it (environment assumption: the other pages are out of the picture).",
        "the focus page's own pfn",
        _pfn_to_page,
    ),
    Model(
        kernel.Kernel.printk,
        "printk writes the console log, which no property reads.",
        "none needed",
        _printk,
    ),
    Model(
        kernel.Kernel.flush_tlb_page,
        "flush_tlb_page(vma, address): the event (flush_tlb_page, the vma's mm, address) on the path's "
        "event log.",
        "no test of its own yet: tests/test_flush_rules.py checks impl.kernel's log of the same calls",
        _flush("flush_tlb_page"),
    ),
    Model(
        kernel.Kernel.flush_cache_page,
        "flush_cache_page(vma, address): an event (flush_cache_page, the vma's mm, address).",
        "as flush_tlb_page",
        _flush("flush_cache_page"),
    ),
)
MODELS: dict[Any, Model] = {m.target: m for m in MODELS_LIST}
