"""Every z3 obligation of the fixed variant can go red.

Each obligation is run once with one encoding of the code broken on
purpose (a mutant of proofs.z3.legacy.code, the transitions the proofs read) and
must then fail.  Together with tests/test_z3_encoding.py, which ties the
encoding to impl/ on concrete states, this is what says a green proof is
not vacuous.  The seed variant's failing obligations are the other half
(tests/test_prove_suite.py).  It takes about two minutes, so it runs only
with RMAP_ENCODING_MUTANTS=1 (.ci/run sets it), outside the default run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import z3

from proofs.obligation import Obligation
from proofs.z3.legacy import OBLIGATIONS, code

_ORIGINAL = {name: getattr(code, name) for name in ("chain_unlock", "test_clear_young")}

# mutant: (function of proofs.z3.legacy.code it replaces, the broken replacement)
MUTANTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "every path faults": ("fault_if", lambda s, cond, kind: s.but(fault=z3.If(s.fault == 0, kind, s.fault))),
    "page_cache_release drops nothing": ("page_cache_release", lambda s: s),
    "young bits are not cleared": (
        "test_clear_young",
        lambda w, p: w.but(ret=w.ret + z3.If(w.s.py[p], 1, 0)),
    ),
    "unlocking counts a reverse map": (
        "chain_unlock",
        lambda s: _ORIGINAL["chain_unlock"](s).but(nr=s.nr + 1),
    ),
}
# The mutant that kills each obligation (measured over all of MUTANTS).
KILLER = {
    "page_add_rmap balanced counts": "unlocking counts a reverse map",
    "page_remove_rmap balanced counts": "unlocking counts a reverse map",
    "try_to_unmap_one balanced counts": "page_cache_release drops nothing",
    "map balanced counts": "page_cache_release drops nothing",
    "zap balanced counts": "page_cache_release drops nothing",
    "page_referenced refinement": "young bits are not cleared",
}


def _fixed() -> list[Obligation]:
    return [o for o in OBLIGATIONS if o.variant == "fixed"]


@pytest.mark.skipif(not os.environ.get("RMAP_ENCODING_MUTANTS"), reason="set RMAP_ENCODING_MUTANTS=1")
@pytest.mark.parametrize("ob", _fixed(), ids=lambda o: o.name.replace(" ", "_"))
def test_a_broken_encoding_fails_the_obligation(ob: Obligation, monkeypatch: pytest.MonkeyPatch) -> None:
    mutant = KILLER.get(ob.name, "every path faults")
    name, broken = MUTANTS[mutant]
    monkeypatch.setattr(code, name, broken)
    assert not ob.run(20).passed, f"{ob.ident} stays proved with {mutant}"
