"""Where each attribute of an impl.kernel object lives in the symbolic state.

``read`` and ``write`` are the generator's attribute access: a pointer's
fields are array cells at its id (a pte_chain node's ``next``/``ptep``, a
pte's value, mm and address), a modelled object's fields are the fields of
``proofs.z3.heap`` its reference names.  Reading through NULL, or through
a pointer of the wrong kind (the union word read as the member it does not
hold), is an oops, as impl.kernel's NULL and misread words make it.  An
attribute this table does not know is refused, never guessed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from impl.kernel import MM, VMA, Kernel, KmemCache, Page, PageState, Pte, PteChain, PteUnion, PteVal, SpinLock
from impl.rmap_seed import SeedRmap
from proofs.z3.heap import intern
from proofs.z3.values import EventLog, Opaque, Opt, Ptr, Record, Ref, term

if TYPE_CHECKING:
    from proofs.z3.lift import Executor
    from proofs.z3.paths import Path, Site

NODE_FIELDS = ("next", "ptep")
PTE_FIELDS = ("val", "mm", "address", "name")
PTEVAL_FIELDS = ("present", "pfn", "young", "dirty")
PAGE_FIELDS = {"pfn": "page.pfn", "count": "page.count", "flags": "page.flags", "index": "page.index"}


def pte_value(heap: Any, p: Any) -> Record:
    """The PteVal a pte holds, read from the pte arrays."""
    parts = [(f, heap.select(f"pte.{f}", p)) for f in PTEVAL_FIELDS]
    return Record(PteVal, (*parts, ("swap", Opt(heap.select("pte.swap", p), -1))))


def _opt_term(value: Any, none: int) -> Any:
    if value is None:
        return z3.IntVal(none)
    if isinstance(value, str):
        return z3.IntVal(intern(value))
    return term(value)


def deref(ex: Executor, path: Path, ptr: Ptr, kind: type, attr: str, site: Site) -> Path:
    """The path on which ``ptr`` points at a ``kind`` object; the others oops."""
    p = ptr.term
    ok = p < 0 if kind is PteChain else p > 0
    ex.fault(path, p == 0, "Oops", f"NULL pointer dereference reading ->{attr}", site)
    ex.fault(path, z3.And(p != 0, z3.Not(ok)), "Oops", f"union pte read as the wrong member (->{attr})", site)
    return path.assume(ok)


def read(ex: Executor, path: Path, obj: Any, attr: str, site: Site) -> list[tuple[Path, Any]]:
    h = path.heap
    if isinstance(obj, Ptr):
        kind = PteChain if attr in NODE_FIELDS else Pte if attr in PTE_FIELDS else None
        if kind is None:
            raise ex.unsupported(site, f"attribute ->{attr} of a pte or pte_chain pointer")
        on = deref(ex, path, obj, kind, attr, site)
        p = obj.term
        if kind is PteChain:
            return [(on, Ptr(h.select(f"node.{attr}", p)))]
        values = {
            "val": lambda: pte_value(h, p),
            "mm": lambda: Ref(MM, (h.select("pte.mm", p),)),
            "address": lambda: h.select("pte.address", p),
            "name": lambda: Opaque("a pte's name"),
        }
        return [(on, values[attr]())]
    if isinstance(obj, Record):
        try:
            return [(path, obj.get(attr))]
        except KeyError:
            raise ex.unsupported(site, f"field {attr} of {obj.cls.__name__}") from None
    if not isinstance(obj, Ref):
        raise ex.unsupported(site, f"attribute .{attr} of {type(obj).__name__}")
    value = _ref_read(ex, h, obj, attr, site)
    return [(path, value)]


def _ref_read(ex: Executor, h: Any, obj: Ref, attr: str, site: Site) -> Any:
    cls, key = obj.cls, obj.key
    if cls is Page:
        if attr in PAGE_FIELDS:
            return h[PAGE_FIELDS[attr]]
        if attr == "mapping":
            return Opt(h["page.mapping"], 0)
        if attr == "pte":
            return Ref(PteUnion)
    elif cls is PteUnion and attr in ("chain", "direct", "word"):
        return Ptr(h["page.word"])
    elif cls is MM:
        if attr == "rss":
            return h.select("mm.rss", key[0])
        if attr == "page_table_lock":
            return Ref(SpinLock, ("mm", key[0]))
        if attr == "name":  # an mm is named by its number in the heap (the event log compares them)
            return key[0]
        if attr == "events":
            return EventLog()
    elif cls is SpinLock and attr == "holder":
        return Opt(h.select("mm.lock", key[1]) if key[0] == "mm" else h["lru.lock"], 0)
    elif cls is SpinLock and attr == "mm":  # the mm whose page_table_lock it is (None: pagemap_lru_lock)
        return key[1] if key[0] == "mm" else None
    elif cls is VMA and attr in ("vm_start", "vm_end", "vm_flags"):
        field = {"vm_start": "vma.start", "vm_end": "vma.end", "vm_flags": "vma.flags"}[attr]
        return h.select(field, *key)
    elif cls is Kernel:
        kernel_fields = {
            "page_state": Ref(PageState),
            "pte_chain_cache": Ref(KmemCache),
            "cpu": "cpu0",
            "pagemap_lru_lock": Ref(SpinLock, ("lru",)),
            "events": EventLog(),
        }
        if attr in kernel_fields:
            return kernel_fields[attr]
    elif cls is PageState and attr == "nr_reverse_maps":
        return h["state.nr"]
    elif cls is KmemCache and attr == "fail_next":
        return h["slab.fail_next"]
    elif issubclass(cls, SeedRmap):
        if attr == "k":
            return Ref(Kernel)
        if attr == "debug_rmap":
            return False  # the proofs are of the kernel built without DEBUG_RMAP
        if attr == "name":
            return cls.name
    raise ex.unsupported(site, f"attribute .{attr} of {cls.__name__} (no symbolic layout for it)")


def write(ex: Executor, path: Path, obj: Any, attr: str, value: Any, site: Site) -> list[Path]:
    h = path.heap
    if isinstance(obj, Ptr):
        kind = PteChain if attr in NODE_FIELDS else Pte if attr == "val" else None
        if kind is None:
            raise ex.unsupported(site, f"assignment to ->{attr} of a pte or pte_chain pointer")
        on = deref(ex, path, obj, kind, attr, site)
        p = obj.term
        if kind is PteChain:
            if not isinstance(value, Ptr):
                raise ex.unsupported(site, f"storing {value!r} in ->{attr} of a pte_chain")
            return [on.but(heap=h.store(f"node.{attr}", p, value.term))]
        if not (isinstance(value, Record) and value.cls is PteVal):
            raise ex.unsupported(site, f"storing {value!r} as a pte's value")
        for f in PTEVAL_FIELDS:
            h = h.store(f"pte.{f}", p, term(value.get(f)))
        h = h.store("pte.swap", p, _opt_term(value.get("swap"), -1))
        return [on.but(heap=h)]
    if not isinstance(obj, Ref):
        raise ex.unsupported(site, f"assignment to .{attr} of {type(obj).__name__}")
    cls, key = obj.cls, obj.key
    if cls is Page and attr in PAGE_FIELDS:
        return [path.but(heap=h.set(PAGE_FIELDS[attr], term(value)))]
    if cls is Page and attr == "mapping":
        return [path.but(heap=h.set("page.mapping", _opt_term(value, 0)))]
    if cls is PteUnion and attr in ("chain", "direct", "word"):
        if not isinstance(value, Ptr):
            raise ex.unsupported(site, f"storing {value!r} in the pte union")
        return [path.but(heap=h.set("page.word", value.term))]
    if cls is MM and attr == "rss":
        return [path.but(heap=h.store("mm.rss", key[0], term(value)))]
    if cls is SpinLock and attr == "holder":
        held = _opt_term(value, 0)
        if key[0] == "mm":
            return [path.but(heap=h.store("mm.lock", key[1], held))]
        return [path.but(heap=h.set("lru.lock", held))]
    if cls is PageState and attr == "nr_reverse_maps":
        return [path.but(heap=h.set("state.nr", term(value)))]
    if cls is KmemCache and attr == "fail_next":
        return [path.but(heap=h.set("slab.fail_next", term(value)))]
    raise ex.unsupported(site, f"assignment to .{attr} of {cls.__name__} (no symbolic layout for it)")
