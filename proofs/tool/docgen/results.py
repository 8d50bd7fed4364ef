"""How a committed result reads in the pages' tables: obligations, invariants, contracts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from impl.variants import VARIANTS
from proofs.obligation import Obligation
from proofs.tool.docgen.markdown import shorten, status_mark, table
from proofs.tool.docgen.sources import Context, ContractResult, ProofResult
from proofs.tool.result import is_bounded

# ---------------------------------------------------------------- status


def result_text(ob: Obligation, results: Mapping[tuple[str, str], ProofResult] | None) -> str:
    if results is None:
        return "not run"
    r = results.get((ob.name, ob.variant))
    return "not run" if r is None else status_mark(r.status)


def result_on(ob: Obligation, results: Mapping[tuple[str, str], ProofResult] | None, name: str) -> str:
    """The obligation's result, and for a failure whether it is on this invariant."""
    text = result_text(ob, results)
    r = None if results is None else results.get((ob.name, ob.variant))
    if r is None or r.passed:
        return text
    return text + (" on this invariant" if r.breaks(name) else f" on: {r.conjunct or 'no conjunct named'}")


def invariant_status(
    name: str,
    variant: str,
    obligations: Sequence[Obligation] | None,
    results: Mapping[tuple[str, str], ProofResult] | None,
) -> str:
    """proved / counterexample / unproved / not covered / not run, for one variant.

    An invariant has a counterexample when an obligation naming it fails on
    its conjunct; it is unproved when such obligations fail on other parts
    only; proved when every one that ran is proved."""
    if obligations is None:
        return "not run (no registry)"
    mine = [ob for ob in obligations if ob.variant == variant and name in ob.invariants]
    if not mine:
        return "not covered"
    ran = [results[(ob.name, variant)] for ob in mine if results and (ob.name, variant) in results]
    if not ran:
        return "not run"
    missing = f", {len(mine) - len(ran)} not run" if len(ran) < len(mine) else ""
    broken = sum(r.breaks(name) for r in ran)
    failed = sum(not r.passed for r in ran)
    if broken:
        return f"**counterexample** in {broken} of {len(ran)} obligations{missing}"
    if failed:
        return (
            f"**unproved**: {failed} of {len(ran)} obligations fail, none by a counterexample on it{missing}"
        )
    return f"proved by {len(ran)} obligations{missing}"


def obligation_table(obs: Iterable[Obligation], ctx: Context, page: str) -> str:
    return table(
        ["obligation", "variant", "property", "result"],
        [
            [f"[{ob.name}]({page}#{ob_anchor(ob)})", ob.variant, ob.prop, result_text(ob, ctx.results)]
            for ob in sorted(obs, key=ob_key)
        ],
    )


def bounded(ob: Obligation) -> str:
    return "bounded" if is_bounded(ob.method) else "unbounded"


def ob_key(ob: Obligation) -> tuple[str, int]:
    return ob.name, list(VARIANTS).index(ob.variant) if ob.variant in VARIANTS else len(VARIANTS)


def ob_anchor(ob: Obligation) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{ob.name} {ob.variant}".lower()).strip("-")


def contract_status(ctx: Context, variant: str, name: str) -> str:
    if variant not in ctx.contract_results:
        return "not run"
    rows = [r for r in ctx.contract_results[variant] if r.function == name]
    if not rows:
        return "not run"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {status_mark(st)}" for st, n in sorted(counts.items()))


def contract_table(rows: Iterable[ContractResult], prefix: str = "", *, named: bool = False) -> str:
    return table(
        ["contract"] * named + ["condition", "result", "CPU s", "explained by", "detail"],
        [
            [f"[`{r.function}`]({prefix}obligations.md#contracts-{r.function})"] * named
            + [
                f"`{r.condition}`",
                status_mark(r.status),
                f"{r.seconds:.1f}",
                ", ".join(f"[{i}]({prefix}findings/{i}.md)" for i in r.findings),
                shorten("; ".join(f"`{c}`" for c in r.calls) if r.calls else r.detail),
            ]
            for r in rows
        ],
    )
