"""Shared world builders and the Hypothesis profiles of the test suite.

Worlds are made the way a trace makes them (``impl.world.build_world`` via
``impl.trace.Session``) and mapped through the callers, so every count in
a test world is explained exactly as in a replayed trace.

Hypothesis profiles (``pytest --hypothesis-profile=NAME``):
- ``default``: deterministic (derandomized), nothing timed; loaded by default.
- ``thorough``: ten times the examples, for long runs.
- ``crosshair``: the hypothesis-crosshair backend (symbolic execution).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from impl.invariants import REP_INVARIANTS, violations
from impl.kernel import Kernel, Page, Pte
from impl.rmap_seed import SeedRmap
from impl.trace import Session

# No timing-based failures (deadline, too_slow): the machine is shared and
# a loaded CPU must not fail a test.
settings.register_profile(
    "default",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    derandomize=False,
    deadline=None,
    print_blob=True,
    max_examples=5000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "crosshair",
    backend="crosshair",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# The hypothesis pytest plugin applies --hypothesis-profile after this.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PFN = 1  # the page every builder maps
PAGE_SIZE = 0x1000
VMA_END = 0x10000  # one vma [0, VMA_END) per mm unless told otherwise
MM_NAMES = "ABCDEFGH"


def pte_name(i: int) -> str:
    return f"p{i}"


def world_desc(
    n_ptes: int = 1,
    n_mms: int = 1,
    *,
    page: Mapping[str, Any] | None = None,
    vmas: Mapping[str, list[dict[str, Any]]] | None = None,
    swap: Mapping[str, int] | None = None,
    extra_pages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A trace ``world`` op: page PFN, mms A.., ptes p0.. spread over them.

    pte ``p<i>`` lives in mm ``MM_NAMES[i % n_mms]`` at address
    ``(i + 1) * PAGE_SIZE``; each mm has one vma [0, VMA_END) unless
    ``vmas`` gives its own.
    """
    mms = [
        {"name": MM_NAMES[m], "vmas": (vmas or {}).get(MM_NAMES[m], [{"start": 0, "end": VMA_END}])}
        for m in range(n_mms)
    ]
    ptes = [
        {"name": pte_name(i), "mm": MM_NAMES[i % n_mms], "address": (i + 1) * PAGE_SIZE}
        for i in range(n_ptes)
    ]
    pages = [{"pfn": PFN, "count": 1, "mapping": "file", **(page or {})}, *(extra_pages or [])]
    return {"op": "world", "pages": pages, "mms": mms, "ptes": ptes, "swap": dict(swap or {})}


class World:
    """A Session plus short names for what the tests poke at."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def k(self) -> Kernel:
        return self.session.k

    @property
    def rmap(self) -> SeedRmap:
        assert self.session.rmap is not None
        return self.session.rmap

    @property
    def page(self) -> Page:
        return self.session.page(PFN)

    def pte(self, i: int | str) -> Pte:
        return self.session.pte(i if isinstance(i, str) else pte_name(i))

    def apply(self, **op: Any) -> dict[str, Any]:
        return self.session.apply(op)

    def entries(self) -> list[str]:
        """The page's rmap entries in chain order, as the trace reports them."""
        return self.session.record("probe", None)["pages"][0]["rmap"]

    def clean(self) -> bool:
        """The whole representation invariant holds (structure and counts)."""
        return not violations(self.k)

    def well_formed(self) -> bool:
        """The structural conjuncts hold (a raw rmap call leaves counts to its caller)."""
        return all(inv.holds(self.k) for inv in REP_INVARIANTS)


REFERENCE_VARIANTS = ("fixed", "seed")


def make_world(variant: str, n_mapped: int = 0, *, debug_rmap: bool = False, **desc: Any) -> World:
    """A world of ``world_desc(**desc)`` with ptes p0..p<n_mapped-1> mapped
    onto page PFN through the map caller, in that order (so the chain
    lists them newest first); by default one more pte stays unmapped."""
    desc.setdefault("n_ptes", n_mapped + 1)
    w = World(Session(variant, debug_rmap))
    w.apply(**world_desc(**desc))
    for i in range(n_mapped):
        record = w.apply(op="map", pte=pte_name(i), pfn=PFN)
        assert record["result"] == "mapped", record
    return w


@pytest.fixture(params=REFERENCE_VARIANTS)
def variant(request: pytest.FixtureRequest) -> str:
    """The faithful port and the corrected variant, by name (the branch
    tests state what each does; other variants are checked by the proofs)."""
    return str(request.param)


@pytest.fixture
def world(variant: str) -> Callable[..., World]:
    """``world(n_mapped, **desc)``: make_world bound to the variant."""

    def build(n_mapped: int = 0, **desc: Any) -> World:
        return make_world(variant, n_mapped, **desc)

    return build
