"""Making a modelled kernel from a plain description (the trace's world).

A world names its pages (by pfn), its mms with their vmas, its ptes (each
in one mm at one address, empty or holding a swap entry) and its swap
slots.  A page's count is a *base* count, held by someone outside the
model (page cache, swap cache); a swap slot's count includes the ptes the
world makes hold it.  Mappings are then made by running the callers, so
every count stays explained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impl.kernel import (
    MM,
    VM_LOCKED,
    VMA,
    Kernel,
    Page,
    PG_dirty,
    PG_referenced,
    PG_reserved,
    PG_swapcache,
    Pte,
    set_flag,
    swp_entry_to_pte,
)


class WorldError(ValueError):
    """The world description is malformed; the message says what is wrong."""


def _field(obj: Mapping[str, Any], key: str, kind: type, default: Any = ..., *, what: str) -> Any:
    if key not in obj:
        if default is ...:
            raise WorldError(f"{what} needs field {key!r}")
        return default
    value = obj[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise WorldError(f"{what}: field {key!r} must be {kind.__name__}, not {value!r}")
    return value


def _list(obj: Mapping[str, Any], key: str, what: str) -> list[Mapping[str, Any]]:
    items: list[Mapping[str, Any]] = _field(obj, key, list, [], what=what)
    for item in items:
        if not isinstance(item, dict):
            raise WorldError(f"{what}: every entry of {key!r} must be an object")
    return items


def _mapping(page: Mapping[str, Any]) -> str | None:
    """page->mapping: an address space's name, or null for none."""
    mapping = page.get("mapping", "file")
    if mapping is not None and not isinstance(mapping, str):
        raise WorldError(f"world page: field 'mapping' must be a name or null, not {mapping!r}")
    return mapping


def build_world(desc: Mapping[str, Any]) -> Kernel:
    """A fresh kernel holding the pages, mms, ptes and swap slots of ``desc``."""
    k = Kernel()
    for p in _list(desc, "pages", "world"):
        what = "world page"
        pfn = _field(p, "pfn", int, what=what)
        if pfn in k.mem_map or pfn in k.io_pages:
            raise WorldError(f"world: page {pfn} is given twice")
        page = Page(
            pfn,
            count=_field(p, "count", int, 1, what=what),
            mapping=_mapping(p),
            index=_field(p, "index", int, 0, what=what),
        )
        for key, bit in (
            ("reserved", PG_reserved),
            ("referenced", PG_referenced),
            ("dirty", PG_dirty),
            ("swapcache", PG_swapcache),
        ):
            set_flag(page, bit, _field(p, key, bool, False, what=what))
        (k.mem_map if _field(p, "valid", bool, True, what=what) else k.io_pages)[pfn] = page
        k.base_count[pfn] = page.count
    for m in _list(desc, "mms", "world"):
        name = _field(m, "name", str, what="world mm")
        if name in k.mms:
            raise WorldError(f"world: mm {name!r} is given twice")
        vmas = [
            VMA(
                _field(v, "start", int, what=f"vma of {name}"),
                _field(v, "end", int, what=f"vma of {name}"),
                VM_LOCKED if _field(v, "locked", bool, False, what=f"vma of {name}") else 0,
            )
            for v in _list(m, "vmas", f"mm {name}")
        ]
        k.mms[name] = MM(name, vmas=sorted(vmas, key=lambda v: v.vm_start))
    swap = _field(desc, "swap", dict, {}, what="world")
    for entry, count in swap.items():
        if not str(entry).isdigit() or not isinstance(count, int) or isinstance(count, bool):
            raise WorldError(f"world: swap slot {entry!r}: {count!r} is not an entry and a count")
        k.swap_map[int(entry)] = count
        k.swap_base[int(entry)] = count
    for t in _list(desc, "ptes", "world"):
        name = _field(t, "name", str, what="world pte")
        mm = _field(t, "mm", str, what=f"pte {name}")
        if name in k.ptes:
            raise WorldError(f"world: pte {name!r} is given twice")
        if mm not in k.mms:
            raise WorldError(f"world: pte {name!r} is in unknown mm {mm!r}")
        pte = Pte(name, k.mms[mm], _field(t, "address", int, what=f"pte {name}"))
        entry = _field(t, "swap", int, None, what=f"pte {name}")
        if entry is not None:
            if entry not in k.swap_map:
                raise WorldError(f"world: pte {name!r} holds unknown swap entry {entry}")
            pte.val = swp_entry_to_pte(entry)
            k.swap_base[entry] -= 1
        k.ptes[name] = pte
    for entry, base in k.swap_base.items():
        if base < 0:
            raise WorldError(f"world: swap slot {entry} counts fewer references than ptes hold it")
    return k
