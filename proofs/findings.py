"""The findings: where the seed, as shipped, breaks what the spec states.

Each finding names the seed function and lines, what fails, what it means
in a 2.5 kernel, the fix the ``fixed`` variant carries (``FIX(Fn)`` in
impl/rmap_fixed.py), and a minimal trace in proofs/findings/ that shows it
when replayed on ``seed`` and shows nothing on ``fixed``.  ``shows`` lists
what the trace's last record must report on ``seed``: invariant names (in
its ``violations``), ``spec_mismatch`` (a refinement failure) or a fault
kind (``Oops``, ``BUG``).  docs/findings/ is generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRACE_DIR = Path(__file__).parent / "findings"


@dataclass(frozen=True)
class Finding:
    id: str
    title: str
    function: str
    seed_lines: str
    fails: str
    kernel: str
    fix: str
    shows: tuple[str, ...]

    @property
    def trace(self) -> Path:
        return TRACE_DIR / f"{self.id}.jsonl"


FINDINGS: tuple[Finding, ...] = (
    Finding(
        "F1",
        "try_to_unmap loses a SWAP_FAIL entry when the next one unmaps",
        "try_to_unmap",
        "rmap.c:290-309",
        "In the chain walk, `break` in the SWAP_FAIL (and SWAP_ERROR) case leaves only the "
        "`switch`, so the loop goes on without making the failed entry `prev_pc`. The next "
        "entry that unmaps is unlinked with the stale `prev_pc` (or from the page's head), "
        "which unlinks the failed entry with it: its pte still maps the page, but the reverse "
        "map no longer records it, and its pte_chain node is never freed.",
        "Any page with one mapping in an mlocked vma (or outside every vma) and another that "
        "unmaps behind it in the chain. Reclaim can never again reach the lost pte: the page "
        "looks less mapped than it is (with every other entry gone, `page->pte.chain` is NULL "
        "and shrink_cache treats the page as unmapped), a later zap of that pte finds nothing to "
        "remove, and one pte_chain object leaks from the slab for good.",
        "Every entry that stays on the chain becomes `prev_pc`, whatever the reason it stays "
        "(SWAP_AGAIN, SWAP_FAIL, SWAP_ERROR).",
        ("spec_rmap_complete", "count_pte_chain_objects", "spec_mismatch"),
    ),
    Finding(
        "F2",
        "try_to_unmap never lowers nr_reverse_maps",
        "try_to_unmap",
        "rmap.c:283-287, 293-296",
        "page_add_rmap counts every entry it adds in page_state.nr_reverse_maps and "
        "page_remove_rmap uncounts the ones it removes, but try_to_unmap removes entries (the "
        "direct pointer, or chain nodes through pte_chain_free) without uncounting them.",
        "nr_reverse_maps grows by one for every mapping reclaim unmaps and never comes back: "
        "the statistic drifts upward for the life of the machine and means nothing after the "
        "first swap-out. Nothing in 2.5.31 acts on it, so the harm is to anyone reading it.",
        "try_to_unmap calls dec_page_state(nr_reverse_maps) for every entry it removes.",
        ("count_nr_reverse_maps", "spec_mismatch"),
    ),
    Finding(
        "F3",
        "page_add_rmap dereferences a failed GFP_ATOMIC allocation",
        "page_add_rmap",
        "rmap.c:119-131, 352-355",
        "pte_chain_alloc uses GFP_ATOMIC, which may return NULL under memory pressure; "
        "page_add_rmap writes through the result without a check, both when it turns a "
        "direct pointer into a chain and when it pushes the new entry.",
        "A fault or fork that maps an already-mapped page while the slab cannot grow oopses "
        "inside page_add_rmap with the page's pte_chain_lock and the mm's page_table_lock "
        "held: the machine is as good as dead (later users of either lock spin for ever).",
        "page_add_rmap takes every node it needs before it changes anything and answers "
        "-ENOMEM (changing nothing) when an allocation fails; map backs out of the fault "
        "(the pte, the rss and the page reference) and reports out of memory.",
        ("Oops", "rep_locks_released", "spec_mismatch"),
    ),
    Finding(
        "F4",
        "page_remove_rmap uncounts an entry it did not find",
        "page_remove_rmap",
        "rmap.c:176-193",
        "When the pte is not on the page (the case the seed's own DEBUG_RMAP message blames "
        "on a driver that cleared PG_reserved) the function falls through to `out:` and "
        "decrements nr_reverse_maps although it removed nothing.",
        "Each such call makes nr_reverse_maps one lower than the entries that exist (and, "
        "being unsigned, it can wrap below zero). The reverse map itself is not harmed.",
        "Only a removal that found its entry decrements nr_reverse_maps.",
        ("count_nr_reverse_maps", "spec_mismatch"),
    ),
    Finding(
        "F5",
        "try_to_unmap_one unmaps a pte that no vma contains",
        "try_to_unmap_one",
        "rmap.c:226-236",
        "find_vma answers the first vma that ends above the address, which need not contain "
        "it. The seed only checks for NULL, so a pte in a hole below a vma (the mremap case "
        "its own comment names) is unmapped as if that vma held it, and the VM_LOCKED test "
        "reads the flags of the wrong vma.",
        "A page whose pte lies outside every vma is unmapped and its TLB entry flushed through "
        "an unrelated vma, where the seed meant to give up (SWAP_FAIL); and a pte below an "
        "mlocked vma is refused for the wrong reason. The effect is on the pages that mremap "
        "is moving, the case the check was written for.",
        "A vma counts only when vm_start <= address; otherwise the answer is SWAP_FAIL, as "
        "when find_vma answers NULL.",
        ("spec_mismatch",),
    ),
    Finding(
        "F6",
        "try_to_unmap answers SWAP_AGAIN for a page it can never unmap",
        "try_to_unmap",
        "rmap.c:297-307",
        "The chain walk keeps one answer, `ret`, and every case overwrites it. When a mapping "
        "answers SWAP_FAIL (in no vma, or in a VM_LOCKED one) and a later one in the chain "
        "answers SWAP_AGAIN (its mm's page_table_lock is busy), `ret = SWAP_AGAIN` replaces the "
        "SWAP_FAIL: the page is reported as worth retrying although one of its mappings can "
        "never be unmapped as things stand.",
        "shrink_cache acts on the answer: SWAP_AGAIN keeps the page on the inactive list to be "
        "tried again, SWAP_FAIL activates it. An mlocked page shared with a busy process is "
        "therefore scanned, locked and walked on every pass of reclaim, never freed and never "
        "moved out of the way, while pages that could be freed wait behind it: wasted scanning "
        "under exactly the memory pressure that started reclaim.",
        "SWAP_AGAIN does not replace a SWAP_FAIL or SWAP_ERROR met earlier in the walk, so the "
        "answer is FAIL-class whenever some mapping can never be unmapped (2.5.32 stops the walk "
        "at the first SWAP_FAIL and answers it, so it needs no such fix).",
        ("spec_mismatch",),
    ),
    Finding(
        "F7",
        "try_to_unmap_one flushes the cache after the pte is gone",
        "try_to_unmap_one",
        "rmap.c:237-240",
        'To "nuke the page table entry" the seed calls ptep_get_and_clear, then '
        "flush_tlb_page, then flush_cache_page. Documentation/cachetlb.txt asks for the "
        "opposite order at the cache end: flush_cache_page while the old translation is still "
        "in place, then change the pte, then flush_tlb_page (rule "
        "`flush_cache_before_pte_change`).",
        "On a machine with a virtually indexed cache that needs the translation to write a line "
        "back (cachetlb.txt names HyperSparc), the page's dirty lines for that user address are "
        "flushed after the translation is gone: they may never reach memory before the page is "
        "written to swap or freed, so the data swapped out can be stale. On x86 both flushes of "
        "the cache are no-ops and nothing shows. The kernel fixed this order in November 2002 "
        '("flush_cache_page while pte valid", against 2.5.47): the rmap VM had diverged from '
        "2.4 before 2.4 got the same fix, so 2.5.32 still shipped the seed's order.",
        "flush_cache_page first, then ptep_get_and_clear, then flush_tlb_page, all under the "
        "page_table_lock as before.",
        ("flush_cache_before_pte_change",),
    ),
)


def finding(ident: str) -> Finding:
    for f in FINDINGS:
        if f.id == ident:
            return f
    raise KeyError(ident)
