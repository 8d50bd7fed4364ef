"""docs/invariants.md: the invariant catalogue."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import Any

from impl.flush_rules import FLUSH_RULES
from impl.invariants import ALL_INVARIANTS, REP_INVARIANTS
from impl.variants import VARIANTS
from proofs.tool.docgen.markdown import fence, seed_links, table
from proofs.tool.docgen.results import bounded, invariant_status, ob_anchor, ob_key, result_on
from proofs.tool.docgen.sources import ROOT, Context
from spec.invariants import Invariant

# Invariants no obligation proves, and why (the catalogue shows the reason;
# tests/test_docs.py fails when an invariant has neither).
NOT_COVERED: dict[str, str] = {}


# ---------------------------------------------------------------- invariant sources


def _code_names(code: CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names += _code_names(const)
    return names


def _lambda_text(fn: FunctionType) -> str:
    src = inspect.getsource(fn).strip().rstrip(",")
    return src[src.index("lambda") :] if "lambda" in src else src


def predicate_source(check: Callable[..., Any]) -> tuple[str, list[str]]:
    """The check's source with every helper of its module it reaches, and
    the qualified names of the functions it uses from other modules."""
    assert isinstance(check, FunctionType)
    module = check.__module__
    parts: list[str] = []
    seen: set[str] = set()
    uses: set[str] = set()

    def visit(fn: FunctionType) -> None:
        if fn.__name__ == "<lambda>":
            parts.append(_lambda_text(fn))
        else:
            parts.append(textwrap.dedent(inspect.getsource(fn)).rstrip())
        for name in _code_names(fn.__code__):
            obj = fn.__globals__.get(name)
            if not isinstance(obj, FunctionType) or name in seen:
                continue
            seen.add(name)
            if obj.__module__ == module:
                visit(obj)
            elif obj.__module__.split(".")[0] in ("spec", "impl"):
                uses.add(f"{obj.__module__}.{obj.__name__}")

    visit(check)
    return "\n\n".join(parts), sorted(uses)


def _invariant_location(inv: Invariant[Any]) -> str:
    module = "impl/invariants.py" if inv in REP_INVARIANTS else "spec/invariants.py"
    lines = (ROOT / module).read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == f'"{inv.name}",')
    return f"{module}:{number}"


def invariant_names_in_source() -> set[str]:
    """Every name given to an ``Invariant(...)`` in spec/ and impl/."""
    names = set()
    for path in sorted([*(ROOT / "spec").glob("*.py"), *(ROOT / "impl").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Invariant"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


def invariants_page(ctx: Context) -> str:
    out = [
        "# Invariant catalogue\n",
        "Every invariant of the model, written once in `spec/invariants.py` (`SPEC_INVARIANTS`, "
        "on the abstract state) or `impl/invariants.py` (`REP_INVARIANTS`, on the concrete "
        "kernel), as the tests, proofs and contracts use it. *Status* is read from the committed "
        "`proofs/results/prove-<variant>.json`; *not covered* means no obligation of "
        "`proofs.registry` names the invariant for that variant.\n",
    ]
    variants = list(VARIANTS)
    rows = []
    for inv in ALL_INVARIANTS:
        statuses = [invariant_status(inv.name, v, ctx.obligations, ctx.results) for v in variants]
        rows.append([f"[`{inv.name}`](#{inv.name})", inv.kind, *statuses])
    out.append(table(["invariant", "kind", *variants], rows))
    for inv in ALL_INVARIANTS:
        out.append(_invariant_section(inv, ctx))
    out.append(flush_rules_section(ctx))
    return "\n".join(out)


def flush_rules_section(ctx: Context) -> str:
    """The rules of ``impl.flush_rules``: properties of one operation's event log."""
    out = [
        "## The rules for changing a pte {#flush-rules}\n",
        "Properties of the kernel's event log (`Kernel.events`: pte changes, flushes, this CPU's "
        "page_table_lock) over one operation, after Documentation/cachetlb.txt; written once in "
        "`impl/flush_rules.py` (`FLUSH_RULES`). Each is a pure function that answers, for every "
        "event it constrains, the condition under which that event breaks it; the equality and "
        "the connectives are parameters, so the same function runs on concrete events and on z3 "
        "terms. A trace record lists a broken rule among its `violations`.\n",
        table(["rule", "statement"], [[f"[`{r.name}`](#{r.name})", r.text] for r in FLUSH_RULES]),
    ]
    for rule in FLUSH_RULES:
        source, uses = predicate_source(rule.rule)
        out += [
            f"### {rule.name} {{#{rule.name}}}\n",
            f"{rule.text}\n",
            f"**Where it comes from:** {seed_links(rule.relies, ctx.seed)}\n",
            "**Formal statement (the Python rule)**\n",
            fence("python", source),
        ]
        if uses:
            out.append("Uses " + ", ".join(f"`{u}`" for u in uses) + ".\n")
    return "\n".join(out)


def _invariant_section(inv: Invariant[Any], ctx: Context) -> str:
    level = "representation (concrete kernel)" if inv in REP_INVARIANTS else "specification (abstract state)"
    out = [
        f"## {inv.name} {{#{inv.name}}}\n",
        f"*{inv.kind}* invariant of the {level}, `{_invariant_location(inv)}`.\n",
        f"{inv.text}\n",
        f"**Where the kernel relies on it:** {seed_links(inv.relies, ctx.seed)}\n",
        "**Status**\n",
        table(
            ["variant", "status"],
            [[v, invariant_status(inv.name, v, ctx.obligations, ctx.results)] for v in list(VARIANTS)],
        ),
    ]
    if ctx.obligations is None:
        out.append("**Proved by:** not known yet (`proofs.registry` does not exist).\n")
    else:
        mine = sorted((ob for ob in ctx.obligations if inv.name in ob.invariants), key=ob_key)
        if mine:
            out.append("**Obligations that state it**\n")
            out.append(
                table(
                    ["obligation", "variant", "property", "bounded", "result"],
                    [
                        [
                            f"[{ob.name}](obligations.md#{ob_anchor(ob)})",
                            ob.variant,
                            ob.prop,
                            bounded(ob),
                            result_on(ob, ctx.results, inv.name),
                        ]
                        for ob in mine
                    ],
                )
            )
        else:
            why = NOT_COVERED.get(inv.name, "no reason recorded")
            out.append(f"**Not covered:** {why}\n")
    checking = [c for c in ctx.contracts.values() if inv.kind in c.kinds]
    if checking:
        out.append(
            f"**Checked by the contracts** whose posts check every *{inv.kind}* conjunct: "
            + ", ".join(f"[`{c.name}`](obligations.md#contracts-{c.name})" for c in checking)
            + "\n"
        )
    source, uses = predicate_source(inv.check)
    out.append("**Formal statement (the Python predicate; it lists every violation)**\n")
    out.append(fence("python", source))
    if uses:
        out.append("Uses " + ", ".join(f"`{u}`" for u in uses) + ".\n")
    formula = ctx.formulas.get(inv.name)
    out.append("**z3 formula**\n")
    if formula:
        out.append(
            "The conjunct `proofs.z3.invariants.full` states for the page an operation is about, on "
            "the symbolic heap `s` of `proofs/z3/heap.py` (`g.n`, `g.nd`, `g.npos`, `g.ppos`, `g.pe` "
            "are the ghost chain; `g.other` and `g.nr_other` the other pages' frame):\n"
        )
        out.append(fence("text", formula))
    else:
        out.append(
            "z3 formula: see obligations. `proofs.z3.invariants.full` has no per-state conjunct "
            "for it: "
            "the count involves every page's ptes, so each obligation that states it does so as a "
            "balance equation of its operation (the counter moves by exactly the change in what it "
            "counts).\n"
        )
    return "\n".join(out)
