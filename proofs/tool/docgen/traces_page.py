"""docs/traces.md: the trace format and the replay records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from impl.kernel import KernelFault
from impl.trace_schema import PATH_ENTRIES
from proofs.findings import FINDINGS
from proofs.interleave.schedule import replay_schedule
from proofs.interleave.world import make_world, paths_op, setup_trace
from proofs.tool.docgen.markdown import fence, table
from proofs.tool.docgen.schema_table import operations_section, world_entries_section
from proofs.tool.docgen.sources import DocsError, replay_file

# ---------------------------------------------------------------- traces

# What each key of a replay record means; generation fails when the
# records grow or lose a key this table does not describe.
RECORD_FIELDS: dict[str, str] = {
    "line": "the trace line the operation came from",
    "op": "the operation's name",
    "result": "what the operation returned (a swap result name, a reclaim summary, null, ...)",
    "fault": "null, or the kernel fault the operation hit: {kind, where, why}",
    "precondition": "null, or why the caller-side precondition did not hold (nothing ran)",
    "pages": "every page, valid ones first: see below",
    "mms": "every mm: see below",
    "ptes": "every pte: see below",
    "swap": "swap entry (as a string) -> its swap_map count",
    "nr_reverse_maps": "page_state.nr_reverse_maps",
    "pte_chain_objects": "live objects of pte_chain_cache",
    "flushes": "TLB and cache flushes the operation made: [function, mm, address]",
    "violations": "invariant name -> messages, for each conjunct of the representation invariant that fails",
    "spec_mismatch": "how the step differs from the spec operation (empty: it refines the spec)",
}
PAGE_FIELDS: dict[str, str] = {
    "pfn": "page frame number",
    "valid": "pfn_valid(pfn)",
    "direct": "PG_direct: the pte union holds a direct pointer",
    "rmap": "the ptes the reverse map records, in chain order, or why the chain is unwalkable",
    "chain_nodes": "pte_chain nodes on the chain (0 when direct or empty, -1 when unwalkable)",
    "count": "page->count",
    "flags": "the page flags set, by name",
    "mapping": "page->mapping (the address space's name) or null",
    "index": "page->index (the swap entry when in the swap cache)",
}
MM_FIELDS: dict[str, str] = {
    "name": "the mm's name",
    "rss": "mm->rss",
    "page_table_lock": "who holds mm->page_table_lock, or null",
}
PTE_FIELDS: dict[str, str] = {
    "name": "the pte's name",
    "mm": "the mm it belongs to (ptep_to_mm)",
    "address": "its virtual address (ptep_to_address)",
    "present": "pte_present",
    "pfn": "the page it maps when present, else null",
    "young": "the accessed bit",
    "dirty": "the dirty bit",
    "swap": "the swap entry a non-present pte holds, or null",
}
FAULT_FIELDS: dict[str, str] = {
    "kind": " or ".join(sorted(f"`{c.kind}`" for c in KernelFault.__subclasses__())),
    "where": "the port's function that faulted and the line of impl/ it faulted at (`function:line`, "
    "a line of the Python port, not of the seed)",
    "why": "what went wrong",
}


# What a step record's ``result`` holds (proofs.interleave.schedule).
STEP_FIELDS: dict[str, str] = {
    "cpu": "the CPU that moved",
    "path": "its path",
    "did": "the acquisition it made, and the function making it",
    "answer": "acquired, failed (a spin_trylock that found the lock held) or retrying",
    "releases": "the locks the step released, in order",
    "finished": "whether the path ran to its end in this step",
    "holds": "every lock held after the step, by path",
    "invariants_checked": "whether the invariants must hold here (no lock held, or every path done)",
}


def _schedule_sample() -> tuple[list[str], dict[str, object]]:
    """A one-path schedule (zap p0 of a one-pte world) and its first step record's result."""
    world = make_world(1, 1, 0, 1, n_reclaims=0)
    trace = [*setup_trace(world), paths_op(world, blocking=False), {"op": "step", "cpu": "cpu0"}]
    result = replay_schedule(trace, "seed")[-1]["result"]
    check_fields("step result", STEP_FIELDS, result)
    return [json.dumps(op) for op in trace[-2:]], result


def check_fields(what: str, documented: Mapping[str, str], real: Iterable[str]) -> None:
    real = set(real)
    if real != set(documented):
        extra = sorted(real - set(documented))
        gone = sorted(set(documented) - real)
        raise DocsError(
            f"trace {what} keys changed (undocumented: {extra}, gone: {gone}); "
            "see proofs/tool/docgen/traces_page.py"
        )


def traces_page() -> str:
    sample_finding = next(f for f in FINDINGS if f.id == "F3")
    records = replay_file(sample_finding.trace, "seed")
    sample = records[-1]
    check_fields("record", RECORD_FIELDS, sample)
    check_fields("page", PAGE_FIELDS, sample["pages"][0])
    check_fields("mm", MM_FIELDS, sample["mms"][0])
    check_fields("pte", PTE_FIELDS, sample["ptes"][0])
    check_fields("fault", FAULT_FIELDS, sample["fault"])
    world = sample_finding.trace.read_text(encoding="utf-8").splitlines()[0]
    sample_lines, sample_result = _schedule_sample()
    out = [
        "# Traces\n",
        "A trace is a scenario for `rmap-verify replay`: one JSON object a line, each an operation "
        "named by `op`. Replaying runs each operation on the modelled kernel of the chosen variant "
        "and prints one state record a line. Counterexamples of the proofs are written as traces, "
        "so every one of them replays on `impl/`.\n",
        "## Operations\n",
        "Generated from the schema `impl.trace_schema` that `replay` checks every line against "
        "before the first operation runs: an unknown key at any level, a value of the wrong type or "
        "out of its range, an inconsistent world or a name the current world does not declare is a "
        "usage error (exit 2) naming the line and the field.\n",
        operations_section(),
        "## World entries\n",
        "The lists of a `world` operation. Within a world, pfns, mm names and pte names are unique, "
        "an mm's vmas are sorted and disjoint, no two ptes of an mm share an address, every pte's "
        "mm and swap entry is declared, a swap-cache page's index is a declared swap slot, and a "
        "slot counts at least the ptes that hold it.\n",
        world_entries_section(),
        "A world (from `proofs/findings/F3.jsonl`):\n",
        fence("json", json.dumps(json.loads(world), indent=2, sort_keys=True)),
        "## Schedules\n",
        "A trace may end in a schedule of concurrent kernel paths: a `paths` operation starts them, "
        "the i-th on CPU `cpui`, each stopped before its first lock acquisition; each `step` moves "
        "the CPU it names through that acquisition up to its next one (or to its end). Replaying "
        "drives the interleaving engine (`proofs.interleave`) with these choices, so it re-runs "
        "the interleaving exactly, on any variant. The keys a step gives besides `cpu` are checked: "
        "a step that cannot happen (its lock is held, its CPU waits at another acquisition, the "
        "answer or the releases differ) is a usage error (exit 2) naming the line, and no record is "
        "printed. The counterexamples of the interleaving obligations are such traces; the C oracle "
        "runs one path at a time and refuses them in one line.\n",
        world_entries_section(PATH_ENTRIES),
        "A step's record is the usual record; its invariants are checked only where the explorer "
        "checks them (no lock held, or every path finished), the flush rules on a path's whole "
        "event log once it finishes, and `fault` is a path's crash or a deadlock (every unfinished "
        "path waits for a lock another holds). Its `result`:\n",
        table(["key", "meaning"], sorted(STEP_FIELDS.items())),
        "For example, the first step of zap alone in a one-pte world (the `paths` and `step` lines after "
        "the world and its premapping), and the step's `result`:\n",
        fence("json", "\n".join(sample_lines)),
        fence("json", json.dumps(sample_result, indent=2, sort_keys=True)),
        "## Records\n",
        "Each record describes the whole modelled state after the operation. Keys:\n",
        table(["key", "meaning"], sorted(RECORD_FIELDS.items())),
        "A page (`pages[]`):\n",
        table(["key", "meaning"], sorted(PAGE_FIELDS.items())),
        "An mm (`mms[]`):\n",
        table(["key", "meaning"], sorted(MM_FIELDS.items())),
        "A pte (`ptes[]`):\n",
        table(["key", "meaning"], sorted(PTE_FIELDS.items())),
        "A fault (`fault`):\n",
        table(["key", "meaning"], sorted(FAULT_FIELDS.items())),
        "The last record of `rmap-verify replay proofs/findings/F3.jsonl --variant seed`:\n",
        fence("json", json.dumps(sample, indent=2, sort_keys=True)),
    ]
    return "\n".join(out)
