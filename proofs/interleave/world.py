"""The worlds the interleavings start from: a kernel and the paths that run in it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------- worlds


PathKind = Literal["fault", "zap", "reclaim"]


@dataclass(frozen=True)
class PathSpec:
    """One concurrent kernel path: map ``pte`` to page ``pfn`` (fault),
    zap ``pte`` (munmap/exit) or reclaim page ``pfn`` (shrink_cache, retried
    once after the others finish when it answers SWAP_AGAIN)."""

    kind: PathKind
    pte: str = ""
    pfn: int = 0

    def label(self) -> str:
        if self.kind == "fault":
            return f"fault {self.pte}->page {self.pfn}"
        if self.kind == "zap":
            return f"zap {self.pte}"
        return f"reclaim page {self.pfn}"


@dataclass(frozen=True)
class World:
    """The starting kernel (a trace ``world`` description, then sequential
    maps of ``premapped`` with their young bits cleared so that reclaim
    finds them unreferenced) and the paths that then run concurrently."""

    name: str
    desc: Mapping[str, Any] = field(hash=False, compare=False)
    premapped: tuple[tuple[str, int], ...]
    paths: tuple[PathSpec, ...]

    def sizes(self) -> dict[str, int]:
        return {
            "paths": len(self.paths),
            "mms": len(self.desc["mms"]),
            "ptes": len(self.desc["ptes"]),
            "pages": len(self.desc["pages"]),
        }


PAGE_PFN = 1
SWAP_ENTRY = 7
MM_NAMES = "ABCDEFGH"


def make_world(n_mms: int, n_ptes: int, n_faults: int, n_zaps: int, n_reclaims: int = 1) -> World:
    """One page (in the swap cache, so unmapping leaves swap ptes), ``n_mms``
    mms with one vma each, ptes p0.. spread over the mms in turn.  The last
    ``n_faults`` ptes are mapped by fault paths, the others are mapped
    before the paths start and the last ``n_zaps`` of those are zapped."""
    if n_faults + n_zaps > n_ptes:
        raise ValueError("every fault and zap needs a pte of its own")
    ptes = [f"p{i}" for i in range(n_ptes)]
    premapped = ptes[: n_ptes - n_faults]
    desc = {
        "pages": [{"pfn": PAGE_PFN, "count": 1, "mapping": "file", "swapcache": True, "index": SWAP_ENTRY}],
        "mms": [{"name": MM_NAMES[m], "vmas": [{"start": 0, "end": 0x10000}]} for m in range(n_mms)],
        "ptes": [
            {"name": p, "mm": MM_NAMES[i % n_mms], "address": (i + 1) * 0x1000} for i, p in enumerate(ptes)
        ],
        "swap": {str(SWAP_ENTRY): 1},
    }
    paths = [PathSpec("fault", p, PAGE_PFN) for p in ptes[n_ptes - n_faults :]]
    paths += [PathSpec("zap", p) for p in premapped[len(premapped) - n_zaps :]]
    paths += [PathSpec("reclaim", pfn=PAGE_PFN)] * n_reclaims
    kinds = f"{n_faults} fault, {n_zaps} zap, {n_reclaims} reclaim"
    name = f"{len(paths)} paths ({kinds}), {n_mms} mms, {n_ptes} ptes"
    return World(name, desc, tuple((p, PAGE_PFN) for p in premapped), tuple(paths))


def setup_trace(world: World) -> list[dict[str, Any]]:
    """The trace operations (impl.trace.OPS) that make the kernel the paths
    start in: the world, then its premapped ptes mapped and made old."""
    ops: list[dict[str, Any]] = [{"op": "world", **world.desc}]
    for pte, pfn in world.premapped:
        ops += [{"op": "map", "pte": pte, "pfn": pfn}, {"op": "set_pte", "pte": pte, "young": False}]
    return ops


def paths_op(world: World, *, blocking: bool) -> dict[str, Any]:
    """The trace's paths operation that starts ``world``'s paths, the i-th on cpui."""
    entries = [
        {
            "kind": p.kind,
            **({"pte": p.pte} if p.kind != "reclaim" else {}),
            **({"pfn": p.pfn} if p.kind != "zap" else {}),
        }
        for p in world.paths
    ]
    return {"op": "paths", "paths": entries, **({"blocking_trylock": True} if blocking else {})}
