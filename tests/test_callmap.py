"""proofs.z3.callmap over-approximates what the VC generator enters.

``prove --affected-by`` (the prove stage of ``rmap-verify mutants``) leaves
out a z3 obligation whose entry point cannot reach a function by the static
call map; that is sound only if the generator never enters a function the
map does not reach.  Each entry point of each registered variant is run
through the generator here, recording every function it inlines.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any

import pytest

from impl.variants import VARIANTS, variant_class
from proofs.z3 import invariants as inv
from proofs.z3.callmap import Node, function_node, reachable
from proofs.z3.ghosts import POSTS
from proofs.z3.heap import fresh_heap
from proofs.z3.lift import Config, Executor
from proofs.z3.loops import LOOPS
from proofs.z3.paths import Path
from proofs.z3.properties import ENTRIES
from proofs.z3.vcs import entry_args, run_entry


class Recording(Executor):
    """The generator, noting each function it inlines."""

    def __init__(self, variant: type, config: Config) -> None:
        super().__init__(variant, config)
        self.entered: set[FunctionType] = set()

    def call(self, func: FunctionType, owner: type | None, args: Any, kwargs: Any, path: Path) -> Any:
        self.entered.add(func)
        return super().call(func, owner, args, kwargs, path)


def node_of(func: FunctionType) -> Node:
    return ("", func.__name__) if "." in func.__qualname__ else (func.__module__, func.__name__)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_function_the_generator_enters_is_reachable_in_the_map(variant: str, entry: str) -> None:
    cls = variant_class(variant)
    h0, args = fresh_heap("s"), entry_args(ENTRIES[entry])
    pre = (*inv.world_facts(h0), *[t for _, t in ENTRIES[entry].pre(h0, args)])
    ex = Recording(cls, Config("proof", LOOPS, POSTS))
    run_entry(ex, ENTRIES[entry], cls, args, Path(pre, h0))
    assert ex.entered, "the entry point itself is inlined"
    assert {node_of(f) for f in ex.entered} <= reachable(entry, cls)


def test_the_map_tells_the_paths_apart() -> None:
    cls = variant_class("fixed")
    add = function_node("impl/fixes.py", "page_add_rmap", cls)
    unmap_one = function_node("impl/fixes.py", "try_to_unmap_one", cls)
    assert add == ("", "page_add_rmap") and unmap_one == ("", "try_to_unmap_one")
    assert add in reachable("map", cls) and add not in reachable("zap", cls)
    assert unmap_one in reachable("reclaim", cls) and unmap_one not in reachable("page_referenced", cls)
    assert function_node("impl/callers.py", "reclaim", cls) == ("impl.callers", "reclaim")
    assert function_node("impl/callers.py", "no_such", cls) is None
