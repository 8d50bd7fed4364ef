"""docs/seed.md: the seed, function by function, beside its port."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from types import FunctionType
from typing import Any

from impl.invariants import ALL_INVARIANTS
from impl.rmap_seed import SeedRmap
from impl.variants import VARIANTS
from proofs.findings import FINDINGS
from proofs.tool.docgen.markdown import fence, table
from proofs.tool.docgen.results import contract_status, obligation_table
from proofs.tool.docgen.seed_facts import SeedFunction
from proofs.tool.docgen.sources import ROOT, SEED_REF, Context, repo_path

# ---------------------------------------------------------------- seed cross-reference


def _port_refs(fn: Callable[..., Any]) -> list[tuple[int, int, str]]:
    """(seed line, port line, comment) for each [rmap.c:N] in a method's source."""
    lines, start = inspect.getsourcelines(fn)
    refs = []
    for offset, line in enumerate(lines):
        for m in SEED_REF.finditer(line):
            note = line.split("#", 1)[1] if "#" in line else line
            for more in lines[offset + 1 :]:  # the comment's continuation lines
                if not more.strip().startswith("#") or SEED_REF.search(more):
                    break
                note += " " + more.strip().lstrip("#")
            refs.append((int(m.group(1)), start + offset, " ".join(note.strip().strip('"').split())))
    return refs


def _callers_of(name: str) -> list[str]:
    """The functions of impl/ (callers and the port) that call ``name``."""
    found = []
    for module in ("impl/callers.py", "impl/rmap_seed.py", "impl/fixes.py", "impl/rmap_2532.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name == name:
                continue
            calls = any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == name
                for c in ast.walk(node)
            )
            if calls:
                found.append(f"`{node.name}` ({module}:{node.lineno})")
    return sorted(set(found))


def seed_page(ctx: Context) -> str:
    out = [
        "# The seed, function by function\n",
        "Every function of the seed (`mm/rmap.c`, Linux 2.5.31; its names, line ranges and summaries "
        "are committed in `proofs/tool/docgen/seed_facts.json`, read from the file of sha256 "
        f"`{ctx.seed_sha256[:16]}`), with "
        "its port in each variant (file and line), the seed lines the port cites as `[rmap.c:N]`, "
        "who calls it in the model, the contracts on it, the obligations about it and the "
        "findings in it.\n",
    ]
    rows = []
    for f in ctx.seed:
        obs = [ob for ob in ctx.obligations or () if ob.function == f.name]
        found = [x.id for x in FINDINGS if x.function == f.name]
        rows.append(
            [
                f"{f.first}-{f.last}",
                f"[`{f.name}`](#{f.name})",
                len(obs),
                ", ".join(f"[{i}](findings/{i}.md)" for i in found) or "",
            ]
        )
    out.append(table(["rmap.c lines", "function", "obligations", "findings"], rows))
    for f in ctx.seed:
        out.append(_seed_section(f, ctx))
    return "\n".join(out)


def _seed_section(f: SeedFunction, ctx: Context) -> str:
    out = [f"## {f.name} {{#{f.name}}}\n"]
    if f.summary:
        out.append(f"*{f.summary}* (rmap.c:{f.first}-{f.last})\n")
    else:
        out.append(f"rmap.c:{f.first}-{f.last}\n")
    # The seed's text is read for its line numbers, never copied into docs/.
    rows = []
    for variant, cls in VARIANTS.items():
        method = getattr(cls, f.name, None)
        if method is None:
            rows.append([variant, "not ported", ""])
            continue
        _, line = inspect.getsourcelines(method)
        owner = next(c for c in cls.__mro__ if f.name in c.__dict__)
        note = "" if owner is cls else f"inherited from `{owner.__name__}`"
        rows.append(
            [
                variant,
                f"`{owner.__name__}.{f.name}` {repo_path(inspect.getsourcefile(method) or '')}:{line}",
                note,
            ]
        )
    out.append("**Port**\n")
    out.append(table(["variant", "function", ""], rows))
    method = getattr(SeedRmap, f.name, None)
    if method is not None:
        refs = _port_refs(method)
        for helper in _seed_helpers(f):
            refs += _port_refs(helper)
        if refs:
            out.append("**Seed lines the port cites**\n")
            out.append(
                table(
                    ["rmap.c", "impl/rmap_seed.py", "note"],
                    [[seed, port, note] for seed, port, note in sorted(refs)],
                )
            )
    callers = _callers_of(f.name)
    out.append("**Called by (in the model):** " + (", ".join(callers) if callers else "nothing") + "\n")
    contract = ctx.contracts.get(f.name)
    if contract is None:
        out.append("**Contract:** none\n")
    else:
        out.append(f"**Contract** (`{contract.where}`): {contract.summary}\n")
        out.append(fence("text", "\n".join(contract.conditions)))
        results = "; ".join(f"{v}: {contract_status(ctx, v, f.name)}" for v in VARIANTS)
        out.append(f"Contract results ([all](obligations.md#contracts-{f.name})): {results}\n")
    obs = [ob for ob in ctx.obligations or () if ob.function == f.name]
    if obs:
        out.append("**Obligations**\n")
        out.append(obligation_table(obs, ctx, "obligations.md"))
    else:
        out.append("**Obligations:** none yet\n")
    found = [x for x in FINDINGS if x.function == f.name]
    out.append(
        "**Findings:** "
        + (
            ", ".join(f"[{x.id}](findings/{x.id}.md) {x.title} (rmap.c {x.seed_lines[7:]})" for x in found)
            or "none"
        )
        + "\n"
    )
    relying = [inv.name for inv in ALL_INVARIANTS if f.name in inv.relies]
    if relying:
        out.append(
            "**Invariants that name it:** " + ", ".join(f"[`{n}`](invariants.md#{n})" for n in relying) + "\n"
        )
    return "\n".join(out)


def _seed_helpers(f: SeedFunction) -> list[Callable[..., Any]]:
    """Private methods of the port that carry lines of seed function ``f``."""
    helpers = []
    for name, obj in sorted(vars(SeedRmap).items()):
        if name.startswith("_") and not name.startswith("__") and isinstance(obj, FunctionType):
            if any(f.first <= seed <= f.last for seed, _, _ in _port_refs(obj)):
                helpers.append(obj)
    return helpers
