"""The rules for changing a user pte, as properties of the kernel's event log.

Documentation/cachetlb.txt of the 2.5 kernels orders every change of a user
page table against the flushes: the cache is flushed first, while the old
virtual-to-physical translation still exists (a virtually indexed cache
with strict tags, the document's HyperSparc, can only write back and drop
the lines of an address that still translates), then the pte is changed,
then the TLB entry is flushed, so that no CPU keeps using the old
translation; and all of it is done under the mm's page_table_lock, before
the lock is dropped, or another path (reclaim, a fault on another CPU) may
see the new pte while a stale translation is still live.

Each rule is written once, here, with its name and English statement, as a
pure function of a sequence of ``impl.kernel.Event`` (kind, mm, address,
present).  A rule answers, for every event it constrains, the condition
under which that event breaks it: ``[(index, condition), ...]``.  Only the
kinds are read as Python strings; mm and address are compared with ``eq``
and the conditions are built with ``any_``, ``all_`` and ``not_``, so the
same functions run on concrete events (the defaults: the condition is a
bool) and on events whose mm, address and ``present`` are z3 terms (pass
``z3.Eq``-like, ``z3.Or``/``z3.And`` over lists, ``z3.Not``).

Only pte changes of a pte that held a present translation need flushes: a
fault that fills an empty or swap pte leaves nothing cached to flush.
``ptep_test_and_clear_young`` is not in the log at all (impl/kernel.py
says why): clearing the accessed bit changes no translation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from impl.kernel import PTE_CHANGES, Event

Eq = Callable[[Any, Any], Any]
Connective = Callable[[Iterable[Any]], Any]
Not = Callable[[Any], Any]
Verdicts = list[tuple[int, Any]]  # (event index, the condition that it breaks the rule)


def _kept(events: Sequence[Event], lo: int, hi: int, mm: Any, eq: Eq, all_: Connective, not_: Not) -> Any:
    """mm's page_table_lock is not dropped strictly between events lo and hi."""
    return all_([not_(eq(events[k].mm, mm)) for k in range(lo + 1, hi) if events[k].kind == "unlock"])


def _same_page(a: Event, b: Event, eq: Eq, all_: Connective) -> Any:
    return all_([eq(a.mm, b.mm), eq(a.address, b.address)])


def pte_change_under_lock(
    events: Sequence[Event],
    eq: Eq = operator.eq,
    any_: Connective = any,
    all_: Connective = all,
    not_: Not = operator.not_,
) -> Verdicts:
    """Every pte change comes after this CPU took its mm's page_table_lock,
    with no release of it in between."""
    out: Verdicts = []
    for i, c in enumerate(events):
        if c.kind in PTE_CHANGES:
            held = [
                all_([eq(events[j].mm, c.mm), _kept(events, j, i, c.mm, eq, all_, not_)])
                for j in range(i)
                if events[j].kind == "lock"
            ]
            out.append((i, not_(any_(held))))
    return out


def flush_cache_before_pte_change(
    events: Sequence[Event],
    eq: Eq = operator.eq,
    any_: Connective = any,
    all_: Connective = all,
    not_: Not = operator.not_,
) -> Verdicts:
    """Every change of a present pte comes after a flush_cache_page of the
    same mm and address, with no release of the mm's page_table_lock in
    between."""
    out: Verdicts = []
    for i, c in enumerate(events):
        if c.kind in PTE_CHANGES:
            flushed = [
                all_([_same_page(events[j], c, eq, all_), _kept(events, j, i, c.mm, eq, all_, not_)])
                for j in range(i)
                if events[j].kind == "flush_cache_page"
            ]
            out.append((i, all_([c.present, not_(any_(flushed))])))
    return out


def flush_tlb_after_pte_change(
    events: Sequence[Event],
    eq: Eq = operator.eq,
    any_: Connective = any,
    all_: Connective = all,
    not_: Not = operator.not_,
) -> Verdicts:
    """Every change of a present pte is followed by a flush_tlb_page of the
    same mm and address before the mm's page_table_lock is released."""
    out: Verdicts = []
    for i, c in enumerate(events):
        if c.kind in PTE_CHANGES:
            flushed = [
                all_([_same_page(events[j], c, eq, all_), _kept(events, i, j, c.mm, eq, all_, not_)])
                for j in range(i + 1, len(events))
                if events[j].kind == "flush_tlb_page"
            ]
            out.append((i, all_([c.present, not_(any_(flushed))])))
    return out


Rule = Callable[..., Verdicts]


@dataclass(frozen=True)
class EventRule:
    """One named rule over the event log: statement, source, pure rule."""

    name: str
    text: str
    relies: str  # where the rule comes from, and who keeps it
    rule: Rule
    says: str  # what a breaking event lacks, for messages

    def check(self, events: Sequence[Event]) -> list[str]:
        """The rule's violations on concrete events, one message each."""
        return [
            f"event {i}: {events[i].kind} of {events[i].mm} @ {events[i].address:#x} {self.says}"
            for i, broken in self.rule(events)
            if broken
        ]

    def holds(self, events: Sequence[Event]) -> bool:
        return not self.check(events)


FLUSH_RULES: tuple[EventRule, ...] = (
    EventRule(
        "pte_change_under_lock",
        "A user pte is changed (set_pte, ptep_get_and_clear) only while this CPU holds its mm's "
        "page_table_lock.",
        "the page_table_lock comment of the seed (it protects the page tables and rss); "
        "try_to_unmap_one [rmap.c:224] and the callers take it before they touch a pte",
        pte_change_under_lock,
        "while its mm's page_table_lock is not held",
    ),
    EventRule(
        "flush_cache_before_pte_change",
        "A pte that holds a present translation is changed only after flush_cache_page of its "
        "mm and address, under the same hold of the page_table_lock: the cache is flushed while "
        "the old translation is still in place.",
        "Documentation/cachetlb.txt (flush_cache_page; a virtually indexed cache needs the "
        "translation to flush); try_to_unmap_one [rmap.c:238-240] (finding F7), zap_pte_range",
        flush_cache_before_pte_change,
        "changes a present translation with no flush_cache_page of it before",
    ),
    EventRule(
        "flush_tlb_after_pte_change",
        "A change of a pte that held a present translation is followed by flush_tlb_page of its "
        "mm and address before the mm's page_table_lock is dropped.",
        "Documentation/cachetlb.txt (flush_tlb_page after the page table change); "
        "try_to_unmap_one [rmap.c:239], zap_pte_range (tlb_finish_mmu under the lock)",
        flush_tlb_after_pte_change,
        "changes a present translation with no flush_tlb_page of it after, under the lock",
    ),
)


def flush_violations(events: Sequence[Event]) -> dict[str, list[str]]:
    """Every rule of ``FLUSH_RULES`` that ``events`` break, by name."""
    return {rule.name: msgs for rule in FLUSH_RULES if (msgs := rule.check(events))}
