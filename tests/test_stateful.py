"""A Hypothesis state machine driving the callers with fault injection.

Every rule is one trace operation run through ``impl.trace.Session``, so
the program Hypothesis builds *is* a trace: the machine logs each op and,
when a check fails, the assertion message carries the whole program as
JSON lines that ``rmap-verify replay`` runs.  After every step the record
must show no fault, no violated invariant (``impl.invariants.violations``)
and no refinement difference (``impl.refinement.Step.check``: α(impl)
equals what the spec predicts); an op whose caller-side precondition does
not hold must change nothing.

The fixed variant passes; the seed variant fails, and the minimal failing
program Hypothesis finds is kept in proofs/findings/stateful_seed.jsonl
(docs_src/stateful.md explains it).  To regenerate that file after a
deliberate change: ``RMAP_VERIFY_WRITE_STATEFUL=1 pytest tests/test_stateful.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from impl.trace import Session, replay
from impl.variants import VARIANTS

SEED_TRACE = Path(__file__).parent.parent / "proofs" / "findings" / "stateful_seed.jsonl"
PROGRAM_HEADER = "failing program (trace):"

PFNS = (1, 2)
MMS = ("A", "B")
PTES = {"a0": ("A", 0x1000), "a1": ("A", 0x2000), "b0": ("B", 0x1000), "b1": ("B", 0x2000)}
FULL = [{"start": 0, "end": 0x4000}]
# vma layouts the `vmas` op can install (mremap, munmap): "hole" leaves
# 0x1000 below the only vma, "gap" leaves 0x1000 and 0x2000 between two
# vmas, "none" leaves every address outside any vma.
LAYOUTS = {
    "full": FULL,
    "hole": [{"start": 0x2000, "end": 0x4000}],
    "gap": [{"start": 0, "end": 0x1000}, {"start": 0x3000, "end": 0x4000}],
    "locked": [{"start": 0, "end": 0x4000, "locked": True}],
    "none": [],
}
WORLD: dict[str, Any] = {
    "op": "world",
    # page p is in the swap cache at entry 6 + p when its swapcache flag is on
    "pages": [{"pfn": pfn, "count": 1, "mapping": "file", "index": 6 + pfn} for pfn in PFNS],
    "mms": [{"name": mm, "vmas": FULL} for mm in MMS],
    "ptes": [{"name": name, "mm": mm, "address": address} for name, (mm, address) in PTES.items()],
    "swap": {str(6 + pfn): 1 for pfn in PFNS},
}
# What an op whose precondition fails must leave untouched.
STATE_FIELDS = ("pages", "mms", "ptes", "swap", "nr_reverse_maps", "pte_chain_objects")

ptes = st.sampled_from(sorted(PTES))
pfns = st.sampled_from(PFNS)
mms = st.sampled_from(MMS)


class StepFailed(AssertionError):
    """A step broke a check; the message ends with the program as a trace."""


class RmapMachine(RuleBasedStateMachine):
    """The callers and the environment's faults, as trace operations."""

    variant: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.session = Session(self.variant)
        self.ops: list[dict[str, Any]] = []
        self.last = self.run(WORLD)

    def run(self, op: dict[str, Any]) -> dict[str, Any]:
        self.ops.append(op)
        record = self.session.apply(op)
        problems = {
            "fault": record["fault"],
            "violations": record["violations"],
            "spec_mismatch": record["spec_mismatch"],
        }
        if record["precondition"]:
            problems["changed"] = [f for f in STATE_FIELDS if record[f] != self.last[f]]
        bad = {key: value for key, value in problems.items() if value}
        if bad:
            raise StepFailed(f"{json.dumps(bad, sort_keys=True)}\n{PROGRAM_HEADER}\n{self.program()}")
        self.last = record
        return record

    def program(self) -> str:
        return "\n".join(json.dumps(op, separators=(",", ":")) for op in self.ops)

    # -- a head start: some ptes mapped (chains to walk), perhaps already old
    @initialize(
        mapped=st.lists(st.tuples(ptes, pfns), unique_by=lambda pair: pair[0]),
        young=st.booleans(),
    )
    def populate(self, mapped: list[tuple[str, int]], young: bool) -> None:
        for pte, pfn in mapped:
            self.map(pte, pfn, dirty=False)
        for pte, _ in [] if young else mapped:
            self.run({"op": "set_pte", "pte": pte, "young": False})

    # -- the callers
    @rule(pte=ptes, pfn=pfns, dirty=st.booleans())
    def map(self, pte: str, pfn: int, dirty: bool) -> None:
        self.run({"op": "map", "pte": pte, "pfn": pfn, **({"dirty": True} if dirty else {})})

    @rule(pte=ptes)
    def zap(self, pte: str) -> None:
        self.run({"op": "zap", "pte": pte})

    @rule(pfn=pfns)
    def reclaim(self, pfn: int) -> None:
        self.run({"op": "reclaim", "pfn": pfn})

    @rule(pfn=pfns)
    def referenced(self, pfn: int) -> None:
        self.run({"op": "referenced", "pfn": pfn})

    # -- the environment
    @rule(mm=mms, take=st.booleans())
    def other_cpu(self, mm: str, take: bool) -> None:
        self.run({"op": "lock" if take else "unlock", "mm": mm})

    @rule(pte=ptes, on=st.booleans())
    def mlock(self, pte: str, on: bool) -> None:
        mm, address = PTES[pte]
        self.run({"op": "mlock", "mm": mm, "address": address, "on": on})

    @rule(mm=mms, layout=st.sampled_from(sorted(LAYOUTS)))
    def vmas(self, mm: str, layout: str) -> None:
        self.run({"op": "vmas", "mm": mm, "vmas": LAYOUTS[layout]})

    @rule(pfn=pfns, on=st.booleans())
    def swapcache(self, pfn: int, on: bool) -> None:
        self.run({"op": "set_page", "pfn": pfn, "swapcache": on})

    @rule(pfn=pfns)
    def touch_page(self, pfn: int) -> None:
        self.run({"op": "set_page", "pfn": pfn, "referenced": True})

    @rule(n=st.integers(0, 2))
    def fail_alloc(self, n: int) -> None:
        self.run({"op": "fail_alloc", "n": n})

    @rule(pte=ptes, young=st.booleans(), dirty=st.booleans())
    def hardware_bits(self, pte: str, young: bool, dirty: bool) -> None:
        self.run({"op": "set_pte", "pte": pte, "young": young, "dirty": dirty})


class FixedMachine(RmapMachine):
    variant = "fixed"


class SeedMachine(RmapMachine):
    variant = "seed"


# The stateful run does not use the crosshair backend even under that
# profile; everything else (derandomize, thorough's count) comes from it.
TestFixedVariant = FixedMachine.TestCase
TestFixedVariant.settings = settings(
    max_examples=max(500, settings().max_examples),
    stateful_step_count=20,
    backend="hypothesis",
)


def test_seed_variant_fails_the_machine_with_the_recorded_program() -> None:
    """The faithful variant breaks the machine's checks; the minimal program
    Hypothesis finds (deterministically) is the committed trace."""
    with pytest.raises(StepFailed) as caught:
        run_state_machine_as_test(
            SeedMachine,
            settings=settings(
                max_examples=500,
                stateful_step_count=20,
                derandomize=True,
                database=None,
                deadline=None,
                backend="hypothesis",
                report_multiple_bugs=False,
            ),
        )
    program = str(caught.value).split(PROGRAM_HEADER + "\n", 1)[1].strip() + "\n"
    if os.environ.get("RMAP_VERIFY_WRITE_STATEFUL"):
        SEED_TRACE.write_text(program)
    assert program == SEED_TRACE.read_text(), f"rerun with RMAP_VERIFY_WRITE_STATEFUL=1; found:\n{program}"


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_recorded_seed_program_replays(variant: str) -> None:
    with SEED_TRACE.open() as lines:
        last = list(replay(lines, str(SEED_TRACE), variant))[-1]
    dirty = bool(last["violations"] or last["spec_mismatch"] or last["fault"])
    assert dirty == (variant == "seed"), last


class OnlyF3(FixedRmap):
    """The fixed variant with the seed's page_add_rmap back (F3 alone)."""

    page_add_rmap = SeedRmap.page_add_rmap


class OnlyF5(FixedRmap):
    """The fixed variant with the seed's vma test back (F5 alone)."""

    _vma_holds = SeedRmap._vma_holds


@pytest.mark.parametrize("hybrid", [OnlyF3, OnlyF5], ids=["F3", "F5"])
def test_machine_finds_a_finding_that_f2_does_not_hide(
    hybrid: type[SeedRmap], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the seed the machine stops at F2 first; with one finding put back
    into the fixed variant it finds that one too (no shrinking, to save time)."""
    monkeypatch.setitem(VARIANTS, "hybrid", hybrid)
    machine = type("HybridMachine", (RmapMachine,), {"variant": "hybrid"})
    with pytest.raises(StepFailed):
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=500,
                stateful_step_count=20,
                derandomize=True,
                database=None,
                deadline=None,
                backend="hypothesis",
                phases=[Phase.generate],
            ),
        )
