"""docs/trusted.md: what is proven, and what is trusted.

Generated from the code that decides it: the VC generator's own account of
the Python it translates (the docstrings of proofs.z3.lift and
proofs.z3.expr), the helper models it trusts (proofs.z3.models, each with
how tests/test_z3_models.py checks it), the spec in z3 the properties are
stated against (proofs.z3.spec, which tests/test_z3_spec.py checks against
spec/ops.py), the loop invariants and ghost postconditions it is given
(proofs.z3.loops, proofs.z3.ghosts), the properties (proofs.z3), and the
environment the bounded engines assume.
"""

from __future__ import annotations

import inspect

from proofs.interleave.obligations import METHOD as INTERLEAVINGS
from proofs.tool.docgen.markdown import table
from proofs.z3 import STATEMENTS, expr, lift
from proofs.z3 import spec as z3_spec
from proofs.z3.ghosts import POSTS
from proofs.z3.loops import LOOPS
from proofs.z3.models import MODELS_LIST


def _doc(module: object) -> str:
    return inspect.cleandoc(inspect.getdoc(module) or "")


def _defined(module: object) -> list[list[str]]:
    """The public functions and classes a module defines, in order, each
    with the first paragraph of its docstring."""
    name = getattr(module, "__name__", "")
    members = [
        m
        for key, m in vars(module).items()
        if not key.startswith("_") and (inspect.isfunction(m) or inspect.isclass(m)) and m.__module__ == name
    ]
    return [[f"`{m.__name__}`", _doc(m).split("\n\n")[0].replace("\n", " ")] for m in members]


def trusted_page() -> str:
    out = [
        "# What is proven, and what is trusted\n",
        "The z3 obligations are proved of the Python in `impl/` itself: `proofs.z3.lift` reads each "
        "variant's methods, the callers and the kernel helpers they call, and generates the verification "
        "conditions from them. What it does not translate is listed here, with how each piece is checked.\n",
        "## The properties\n",
        table(["property", "statement ({f}: the function or caller path)"], sorted(STATEMENTS.items())),
        "## The generator and the Python it supports\n",
        _doc(lift) + "\n",
        _doc(expr) + "\n",
        "Anything else (a construct, a call of a function outside impl/ and spec/ that is not a variant's "
        "own method and has no model) is refused with its file:line, and the obligation is an `error`.\n",
        "## Trusted: the kernel helpers' models\n",
        "Each helper below is not translated; its z3 model is part of the trusted base.\n",
        table(
            ["helper", "the model", "how it is checked against impl/kernel.py"],
            [[f"`{m.name}`", m.text, m.checked] for m in MODELS_LIST],
        ),
        "## Trusted: the spec in z3\n",
        _doc(z3_spec) + "\n",
        table(["function", "what it states"], _defined(z3_spec)),
        "Each entry's spec (`Entry.spec` in `proofs.z3.properties`, made of these; try_to_unmap_one's "
        "and reclaim's composed there) is what tests/test_z3_spec.py evaluates and compares.\n",
        "## Given: loop invariants and ghost postconditions\n",
        "A loop's invariant is data the generator checks (initiation and consecution from the code), "
        "not an assumption; a loop without one is refused.\n",
        table(
            ["function", "loop", "name", "invariant"],
            [[f"`{inv.function}`", inv.loop, inv.name, inv.text] for inv in LOOPS.values()],
        ),
        "The ghost chain (positions of the entries) is updated by these postconditions, which the "
        "representation invariant ties to the concrete chain at the function's end:\n",
        table(["function", "ghost postcondition"], [[f"`{p.function}`", p.text] for p in POSTS.values()]),
        "## Environment assumptions\n",
        "- **One page at a time.** A z3 obligation is about one page: `pfn_to_page` answers the focus "
        "page, and the other pages' chains and references are a frame the operation leaves alone.\n",
        "- **The environment's choices are free.** Whether another CPU holds a page_table_lock, where the "
        "vmas are, which allocation of a call fails, the pte bits and the swap counts are unconstrained "
        "beyond the representation invariant and the function's precondition.\n",
        f"- **Bounded worlds.** The interleaving obligations explore {INTERLEAVINGS}; the contracts explore "
        "the bounded worlds of docs/contracts.md; the exhaustive check covers chains of up to three "
        "entries. Their results hold for those worlds only, and the reports mark them *bounded*.\n",
        "- **Counterexamples are replayed.** A failing VC is not reported as a counterexample until a "
        "trace found from the function's entry replays on impl/ and shows the violation.\n",
    ]
    return "\n".join(out)
