"""The trace format as a schema: every operation and every world entry, with its keys, types and ranges.

One place says what a trace line may hold (msgspec structs, unknown keys
rejected at every level); ``impl.trace`` validates every line against it
before anything runs, ``impl.world`` builds kernels only from validated
worlds, and docs/traces.md is generated from the same classes.

Each operation is *raw* (the rmap function or kernel setting runs as given,
with no caller-side precondition: a misuse shows as a fault, a violation
or a spec mismatch), *caller* (a caller of the kernel: when its
precondition does not hold the record says so and nothing changes), or
*schedule* (concurrent paths on the interleaving engine: a step that cannot
happen is bad input).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

PAGE_SIZE = 0x1000  # i386
ADDRESS_LIMIT = 0xC000_0000  # TASK_SIZE: user addresses lie below it
MAX_PFN = 2**20 - 1  # 4 GiB of 4 KiB pages
MAX_COUNT = 2**31 - 1  # atomic_t
MAX_SWAP_ENTRY = 2**32 - 1  # swp_entry_t.val
MAX_FAILURES = 1_000_000  # failing pte_chain allocations a trace may ask for
MAX_LIST = 256  # pages, mms, ptes, vmas or swap slots in one world
MAX_DEPTH = 4  # world -> mms[] -> vmas[] -> a vma: the deepest a valid line nests
Level = Literal["raw", "caller", "schedule"]

Name = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.+-]+$",
        description="a name: letters, digits, _.+-",
    ),
]
Pfn = Annotated[int, Meta(ge=0, le=MAX_PFN, description="page frame number")]
Count = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Address = Annotated[int, Meta(ge=0, lt=ADDRESS_LIMIT, multiple_of=PAGE_SIZE, description="page-aligned")]
AnyAddress = Annotated[int, Meta(ge=0, lt=ADDRESS_LIMIT)]
SwapEntry = Annotated[int, Meta(ge=0, le=MAX_SWAP_ENTRY)]
# swap_map is unsigned short[]: a count may sit above SWAP_MAP_MAX only as a test of saturation
SwapCount = Annotated[int, Meta(ge=0, le=0xFFFF)]
Index = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1, description="page->index")]


class Entry(Struct, forbid_unknown_fields=True, kw_only=True):
    """A part of a world: unknown keys are rejected."""


class PageEntry(Entry):
    """A page of the world (``pages[]``), with no mapping yet."""

    pfn: Pfn
    count: Annotated[Count, Meta(description="base page->count, held outside the model")] = 1
    mapping: Annotated[Name | None, Meta(description="page->mapping's name, or null")] = "file"
    index: Index = 0
    valid: Annotated[bool, Meta(description="pfn_valid: false for an I/O page")] = True
    reserved: bool = False
    referenced: bool = False
    dirty: bool = False
    swapcache: Annotated[bool, Meta(description="in the swap cache at slot index (a declared slot)")] = False


class VmaEntry(Entry):
    """A vma of an mm (``mms[].vmas[]``): [start, end), sorted and disjoint within the mm."""

    start: Address
    end: Address
    locked: Annotated[bool, Meta(description="VM_LOCKED")] = False


class MmEntry(Entry):
    """An mm of the world (``mms[]``)."""

    name: Name
    vmas: Annotated[list[VmaEntry], Meta(max_length=MAX_LIST)] = []


class PteEntry(Entry):
    """A pte slot (``ptes[]``): one per (mm, address), empty or holding a swap entry."""

    name: Name
    mm: Annotated[Name, Meta(description="a declared mm")]
    address: Address
    swap: Annotated[SwapEntry | None, Meta(description="a declared swap slot, or null for empty")] = None


class Op(Struct, forbid_unknown_fields=True, kw_only=True, tag_field="op"):
    """One trace line; the subclass's tag is its ``op``."""

    level: ClassVar[Level]


class World(Op, tag="world"):
    """Start over with a new world (must come first); swap: slot -> count, the ptes holding it included."""

    level = "raw"
    pages: Annotated[list[PageEntry], Meta(max_length=MAX_LIST)] = []
    mms: Annotated[list[MmEntry], Meta(max_length=MAX_LIST)] = []
    ptes: Annotated[list[PteEntry], Meta(max_length=MAX_LIST)] = []
    swap: Annotated[dict[SwapEntry, SwapCount], Meta(max_length=MAX_LIST)] = {}


class Map(Op, tag="map"):
    """Fault or fork maps page pfn at pte (map_pte)."""

    level = "caller"
    pte: Name
    pfn: Pfn
    dirty: bool = False


class Zap(Op, tag="zap"):
    """munmap/exit clears pte (zap_pte)."""

    level = "caller"
    pte: Name


class Referenced(Op, tag="referenced"):
    """page_referenced under pte_chain_lock, as reclaim calls it."""

    level = "caller"
    pfn: Pfn


class Reclaim(Op, tag="reclaim"):
    """shrink_cache on page pfn (reclaim)."""

    level = "caller"
    pfn: Pfn


class PageAddRmap(Op, tag="page_add_rmap"):
    """page_add_rmap(page, pte), with no caller around it."""

    level = "raw"
    pfn: Pfn
    pte: Name


class PageRemoveRmap(Op, tag="page_remove_rmap"):
    """page_remove_rmap(page, pte), with no caller around it."""

    level = "raw"
    pfn: Pfn
    pte: Name


class TryToUnmap(Op, tag="try_to_unmap"):
    """try_to_unmap(page); the caller's locks are not taken."""

    level = "raw"
    pfn: Pfn


class TryToUnmapOne(Op, tag="try_to_unmap_one"):
    """try_to_unmap_one(page, pte), with no caller around it."""

    level = "raw"
    pfn: Pfn
    pte: Name


class Lock(Op, tag="lock"):
    """Another CPU takes mm's page_table_lock (it must be free)."""

    level = "caller"
    mm: Name


class Unlock(Op, tag="unlock"):
    """The other CPU releases mm's page_table_lock (it must hold it)."""

    level = "caller"
    mm: Name


class SetPage(Op, tag="set_page"):
    """Set page flags or fields; only the keys given change (mapping "" clears it)."""

    level = "raw"
    pfn: Pfn
    swapcache: bool | UnsetType = UNSET
    index: Index | UnsetType = UNSET
    reserved: bool | UnsetType = UNSET
    locked: bool | UnsetType = UNSET
    referenced: bool | UnsetType = UNSET
    dirty: bool | UnsetType = UNSET
    mapping: Annotated[str, Meta(max_length=64, pattern=r"^[A-Za-z0-9_.+-]*$")] | UnsetType = UNSET


class SetPte(Op, tag="set_pte"):
    """Set the hardware bits of a present pte (it must be present)."""

    level = "caller"
    pte: Name
    young: bool | UnsetType = UNSET
    dirty: bool | UnsetType = UNSET


class Mlock(Op, tag="mlock"):
    """Set (or with on=false clear) VM_LOCKED on the vma containing address (one must)."""

    level = "caller"
    mm: Name
    address: AnyAddress
    on: bool = True


class Vmas(Op, tag="vmas"):
    """Replace mm's vmas (sorted, disjoint); a gap models mremap/munmap."""

    level = "raw"
    mm: Name
    vmas: Annotated[list[VmaEntry], Meta(max_length=MAX_LIST)]


class FailAlloc(Op, tag="fail_alloc"):
    """The next n GFP_ATOMIC pte_chain allocations fail, once the after ones before them have succeeded."""

    level = "raw"
    n: Annotated[int, Meta(ge=0, le=MAX_FAILURES)]
    after: Annotated[int, Meta(ge=0, le=MAX_FAILURES, description="allocations that succeed first")] = 0


class PathEntry(Entry):
    """A concurrent kernel path (``paths[]`` of a ``paths`` operation): fault maps pte to page
    pfn, zap clears pte, reclaim runs shrink_cache on page pfn (retried once the others finish when
    it answers SWAP_AGAIN)."""

    kind: Literal["fault", "zap", "reclaim"]
    pte: Annotated[Name, Meta(description="fault, zap: a declared pte")] | UnsetType = UNSET
    pfn: Annotated[Pfn, Meta(description="fault, reclaim: a declared page")] | UnsetType = UNSET


MAX_PATHS = 8  # CPUs of one schedule


class Paths(Op, tag="paths"):
    """Start concurrent kernel paths, the i-th on CPU cpui, with every lock free; each runs to its first
    lock acquisition and waits there. Only step operations may follow, until the next world."""

    level = "schedule"
    paths: Annotated[list[PathEntry], Meta(min_length=1, max_length=MAX_PATHS)]
    blocking_trylock: Annotated[
        bool, Meta(description="try_to_unmap_one's spin_trylock is a spin_lock (the edit that deadlocks)")
    ] = False


StepText = Annotated[str, Meta(max_length=128)]


class ScheduleStep(Op, tag="step"):
    """CPU cpu makes the lock acquisition it waits at and runs to its next one (or to its end). The
    other keys, when given, say what the step does and must be what it does: a step that cannot happen
    (its lock is held, another acquisition is next, another answer) is rejected."""

    level = "schedule"
    cpu: Annotated[Name, Meta(description="a CPU of the paths operation: cpu0, cpu1, ...")]
    path: Annotated[StepText, Meta(description="its path, e.g. reclaim page 1")] | UnsetType = UNSET
    acquires: (
        Annotated[
            Literal["spin_lock", "spin_trylock", "pte_chain_lock", "await"],
            Meta(description="the primitive; await: reclaim waits for the others to finish, then retries"),
        ]
        | UnsetType
    ) = UNSET
    lock: Annotated[StepText, Meta(description="the lock, e.g. A.page_table_lock")] | UnsetType = UNSET
    at: (
        Annotated[StepText, Meta(description="the function acquiring, e.g. try_to_unmap_one(p0)")] | UnsetType
    ) = UNSET
    answer: (
        Annotated[StepText, Meta(description="acquired, failed (a spin_trylock), retrying")] | UnsetType
    ) = UNSET
    releases: (
        Annotated[list[StepText], Meta(max_length=16, description="the locks the step releases, in order")]
        | UnsetType
    ) = UNSET


AnyOp = (
    World
    | Map
    | Zap
    | Referenced
    | Reclaim
    | PageAddRmap
    | PageRemoveRmap
    | TryToUnmap
    | TryToUnmapOne
    | Lock
    | Unlock
    | SetPage
    | SetPte
    | Mlock
    | Vmas
    | FailAlloc
    | Paths
    | ScheduleStep
)
OPS: dict[str, type[Op]] = {str(cls.__struct_config__.tag): cls for cls in AnyOp.__args__}
WORLD_ENTRIES: dict[str, type[Entry]] = {
    "pages[]": PageEntry,
    "mms[]": MmEntry,
    "mms[].vmas[]": VmaEntry,
    "ptes[]": PteEntry,
}
# The parts of a paths operation.
PATH_ENTRIES: dict[str, type[Entry]] = {"paths[]": PathEntry}
_DECODER = msgspec.json.Decoder(AnyOp)


class SchemaError(ValueError):
    """A line or an operation that the schema rejects; the message names the field."""


class _Tagged(Struct):
    """Just the ``op`` of a line, to name the operation in an error about the rest of it."""

    op: str


_TAG_DECODER = msgspec.json.Decoder(_Tagged)
_REWORDED = (
    ("Object missing required field `", "missing field '"),
    ("Object contains unknown field `", "unknown field '"),
    ("Integer value out of range", "integer out of range"),
    ("Expected ", "expected "),
)


def _message(error: msgspec.ValidationError) -> str:
    """msgspec's message as ``field: what is wrong`` (the path without ``$.``)."""
    text, _, where = str(error).partition(" - at ")
    if text.startswith("Invalid value") and where == "`$.op`":
        return f"op: unknown operation {text.removeprefix('Invalid value ')}; known: {', '.join(OPS)}"
    for old, new in _REWORDED:
        if text.startswith(old):
            text = new + text.removeprefix(old)
            text = text[:-1] + "'" if new.endswith("'") else text
    if where.startswith("`key` in "):
        where, text = where.removeprefix("`key` in "), f"key: {text}"
    path = where.strip("`").removeprefix("$").removeprefix(".")
    return f"{path}: {text.replace('`', '')}" if path else text.replace("`", "")


def decode_line(line: bytes) -> Op:
    """One JSON line, validated; SchemaError names the operation and the field."""
    try:
        op: Op = _DECODER.decode(line)
    except RecursionError:  # skipping a deeply nested value the schema has no place for
        raise SchemaError(f"nested deeper than the trace format allows ({MAX_DEPTH} levels)") from None
    except msgspec.ValidationError as why:
        try:
            name = _TAG_DECODER.decode(line).op
        except (msgspec.MsgspecError, RecursionError):
            raise SchemaError(_message(why)) from None
        known = name in OPS and not str(why).endswith("`$.op`")
        raise SchemaError(f"{name}: {_message(why)}" if known else _message(why)) from None
    except msgspec.DecodeError as why:
        detail = str(why).removeprefix("JSON is malformed: ")
        raise SchemaError("not UTF-8 text" if "UTF-8" in detail else f"not JSON ({detail})") from None
    return op


def convert(op: object) -> Op:
    """An operation given as Python data (a dict), validated exactly as its JSON line would be."""
    try:
        line = msgspec.json.encode(op)
    except (TypeError, OverflowError) as why:
        raise SchemaError(f"not JSON data: {why}") from None
    return decode_line(line)


def as_dict(op: Op) -> dict[str, object]:
    """The operation as plain data, with ``op`` and only the keys given or defaulted."""
    data: dict[str, object] = msgspec.to_builtins(op)
    return data
