"""The loop invariants of proofs.z3.loops belong to loops that exist.

An invariant keyed ``Class.function`` is looked up by the loop's own
``__qualname__``; if the class or the method were renamed, the loop would
fall back to the invariant of every function of that name and its proof
would fail for a reason nobody reads.  This keeps each key pointing at
code: a function of impl/ with that name, holding that many loops.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest

from impl.variants import VARIANTS
from proofs.z3.loops import LOOPS


def _functions() -> dict[str, object]:
    found: dict[str, object] = {}
    for cls in VARIANTS.values():
        for klass in cls.__mro__:
            for name, member in vars(klass).items():
                if inspect.isfunction(member):
                    found.setdefault(member.__qualname__, member)
                    found.setdefault(name, member)
    return found


@pytest.mark.parametrize("key", sorted(LOOPS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_each_invariant_names_a_loop_of_impl(key: tuple[str, int]) -> None:
    function, index = key
    func = _functions().get(function)
    assert func is not None, f"no function {function} in any registered variant"
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))  # type: ignore[arg-type]
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.While)]
    assert index < len(loops), f"{function} has {len(loops)} while loop(s), not a loop {index}"
