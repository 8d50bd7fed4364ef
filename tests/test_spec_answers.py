"""try_to_unmap's answers mean what shrink_cache does with them (issue 13).

``spec.ops.unmap_allows`` is checked on the code that runs: every chain of
up to three mappings with every outcome of each, through the real callers
(``proofs.exhaustive.case_trace``).  The correct designs, ``fixed`` (the
full walk) and ``2.5.32`` (stop at the first SWAP_FAIL), refine it; the
seed and the deliberately wrong ``again-after-fail`` are refuted exactly
where a SWAP_AGAIN comes after a SWAP_FAIL in the walk (finding F6).
"""

from __future__ import annotations

import itertools

import pytest

from impl.trace import Session
from impl.variants import variant_class
from impl.wrong_variants import AgainAfterFail
from proofs.exhaustive import OUTCOMES, case_trace

CASES = [c for n in range(1, 4) for c in itertools.product(OUTCOMES, repeat=n)]
GIVES_UP = ("no vma", "VM_LOCKED")


def _mismatch(variant: str, outcomes: tuple[str, ...]) -> list[str]:
    session = Session(variant)
    records = [session.apply(op) for op in case_trace(outcomes)]
    assert records[-1]["fault"] is None
    return list(records[-1]["spec_mismatch"])


def _again_after_fail(outcomes: tuple[str, ...]) -> bool:
    """Whether a walk that keeps the last answer (chain order: the last
    mapped first) ends on a SWAP_AGAIN after meeting a SWAP_FAIL."""
    stayed = [o for o in reversed(outcomes) if o != "unmapped"]
    return bool(stayed) and stayed[-1] == "lock busy" and any(o in GIVES_UP for o in stayed)


def test_the_wrong_variant_is_found_by_name_but_not_listed() -> None:
    from impl.variants import VARIANTS

    assert variant_class("again-after-fail") is AgainAfterFail and "again-after-fail" not in VARIANTS


@pytest.mark.parametrize("variant", ["fixed", "2.5.32"])
def test_correct_designs_refine_the_spec(variant: str) -> None:
    for outcomes in CASES:
        assert _mismatch(variant, outcomes) == [], outcomes


def test_again_after_fail_is_refuted_exactly_where_it_misleads_shrink_cache() -> None:
    refuted = {c for c in CASES if _mismatch("again-after-fail", c)}
    assert refuted == {c for c in CASES if _again_after_fail(c)}
    for c in refuted:
        assert "try_to_unmap': 'SWAP_AGAIN'" not in _mismatch("again-after-fail", c)[0]  # spec's answer
        assert "SWAP_FAIL" in _mismatch("again-after-fail", c)[0]


def test_the_seed_is_refuted_where_f6_misleads_it() -> None:
    """F1 also refutes the seed (a lost entry), so only the F6 cases are
    checked: each is refuted, with SWAP_AGAIN as the seed's answer."""
    for c in CASES:
        if _again_after_fail(c):
            why = _mismatch("seed", c)
            assert why and "impl 'SWAP_AGAIN'" in why[0], (c, why)
