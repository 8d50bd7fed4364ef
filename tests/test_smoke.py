"""The findings' traces show their finding on seed and nothing on fixed."""

import pytest

from impl.trace import replay
from proofs.findings import FINDINGS, Finding


def _last(f: Finding, variant: str) -> dict:
    with f.trace.open() as lines:
        return list(replay(lines, str(f.trace), variant))[-1]


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_finding_trace_shows_it_on_seed(f: Finding) -> None:
    last = _last(f, "seed")
    shown = set(last["violations"]) | ({"spec_mismatch"} if last["spec_mismatch"] else set())
    if last["fault"]:
        shown.add(last["fault"]["kind"])
    assert set(f.shows) <= shown


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_finding_trace_is_clean_on_fixed(f: Finding) -> None:
    last = _last(f, "fixed")
    assert not last["violations"] and not last["spec_mismatch"] and not last["fault"]
