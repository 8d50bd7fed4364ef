"""The C oracle's state, read back into a fresh ``impl.kernel.Kernel``.

After every command the oracle dumps its whole state (protocol.c's
``dump``); ``mirror`` turns the dump into a Kernel of the port's model, so
that the record, the invariants and the spec check are computed by the
very functions the port's replay uses.  Pointers come back as what they
point at: a pte slot becomes that ``Pte``, a slab object that
``PteChain`` (one object per serial number, so sharing and cycles survive),
NULL ``NULL``; a pointer to anything else becomes a ``Foreign``, which the
invariants report as an unwalkable chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from impl.c.native import OracleError
from impl.kernel import (
    MM,
    NULL,
    VMA,
    Event,
    EventKind,
    Kernel,
    Page,
    PageState,
    Pte,
    PteChain,
    PteVal,
)
from impl.world import InjectedCache

HOLDERS = (None, "cpu0", "cpu1")  # the C's lock holder codes
# shim/kernel.h's SHIM_EV_* codes, in order.
EVENT_KINDS: tuple[EventKind, ...] = (
    "flush_tlb_page",
    "flush_cache_page",
    "set_pte",
    "ptep_get_and_clear",
    "lock",
    "unlock",
)


class Foreign:
    """A C pointer to neither a pte slot nor a slab object."""

    def __init__(self, address: int) -> None:
        self.address = address

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<C pointer {self.address:#x}>"


@dataclass
class WorldInfo:
    """What the C does not hold: names, pfns and the ghost counts, fixed
    when the world is made; indices are the C's (world order)."""

    pfns: list[int]
    valid: list[bool]
    mm_names: list[str]
    ptes: list[tuple[str, int, int]]  # name, mm index, address
    base_count: dict[int, int]
    swap_base: dict[int, int]
    mappings: list[str] = field(default_factory=list)  # mapping id - 1 -> name

    def mapping_id(self, name: str | None) -> int:
        if name is None:
            return 0
        if name not in self.mappings:
            self.mappings.append(name)
        return self.mappings.index(name) + 1


def signed(value: str) -> int:
    """A C unsigned long as the port's int (a counter below zero wrapped)."""
    n = int(value)
    return n - (1 << 64) if n >= 1 << 63 else n


def mirror(info: WorldInfo, dump: list[str]) -> tuple[Kernel, list[Event]]:
    """The Kernel the dump describes, and the events logged since the last dump."""
    cache = InjectedCache("pte_chain")
    k = Kernel(base_count=dict(info.base_count), swap_base=dict(info.swap_base), pte_chain_cache=cache)
    mms = [MM(name) for name in info.mm_names]
    ptes = [Pte(name, mms[mm], address) for name, mm, address in info.ptes]
    nodes: dict[str, PteChain] = {}
    events: list[Event] = []

    def pointer(token: str) -> Any:
        if token == "0":
            return NULL
        if token[0] == "p":
            return ptes[int(token[1:])]
        if token[0] == "c":
            return nodes.setdefault(token, PteChain())
        return Foreign(int(token[1:], 16))

    for line in dump:
        kind, *f = line.split()
        if kind == "page":
            i = int(f[0])
            page = Page(info.pfns[i], int(f[1]), int(f[2]), _mapping(info, int(f[3])), signed(f[4]))
            page.pte.word = pointer(f[5])
            (k.mem_map if info.valid[i] else k.io_pages)[page.pfn] = page
        elif kind == "obj":
            node = pointer("c" + f[0])
            if f[2] != "-":  # else freed under the sanitizers: unreadable
                node.next, node.ptep = pointer(f[2]), pointer(f[3])
            if f[1] == "1":
                cache.live.append(cast(PteChain, node))
        elif kind == "mm":
            mm = mms[int(f[0])]
            mm.rss, mm.page_table_lock.holder = signed(f[1]), HOLDERS[int(f[2])]
        elif kind == "vma":
            mms[int(f[0])].vmas.append(VMA(signed(f[1]), signed(f[2]), int(f[3])))
        elif kind == "pte":
            ptes[int(f[0])].val = _pte_val(ptes[int(f[0])], f[1:])
        elif kind == "swap":
            k.swap_map[signed(f[0])] = signed(f[1])
        elif kind == "state":
            k.page_state = PageState(signed(f[0]))
            cache.fail_next, k.pagemap_lru_lock.holder = int(f[1]), HOLDERS[int(f[2])]
            cache.succeed = int(f[3])
        elif kind == "event":
            owner = info.mm_names[int(f[1])]
            events.append(Event(EVENT_KINDS[int(f[0])], owner, signed(f[2]), f[3] == "1"))
        elif kind == "error":
            raise OracleError(line[len("error ") :])
    k.mms = {mm.name: mm for mm in mms}
    k.ptes = {pte.name: pte for pte in ptes}
    return k, events


def _mapping(info: WorldInfo, ident: int) -> str | None:
    return None if ident == 0 else info.mappings[ident - 1]


def _pte_val(pte: Pte, f: list[str]) -> PteVal:
    if f[0] == "raw":
        raise OracleError(f"pte {pte.name} holds {f[1]}, which is no pte value of the model")
    present, pfn, young, dirty, swapped, entry = (int(x) for x in f)
    if present:
        return PteVal(present=True, pfn=pfn, young=bool(young), dirty=bool(dirty))
    return PteVal(swap=signed(str(entry))) if swapped else PteVal()
