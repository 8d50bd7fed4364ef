"""docs/obligations.md: every obligation and every contract, with their results."""

from __future__ import annotations

import json
import textwrap

from impl.variants import VARIANTS
from proofs.obligation import Obligation
from proofs.tool.docgen.markdown import fence, table
from proofs.tool.docgen.results import (
    bounded,
    contract_status,
    contract_table,
    ob_anchor,
    ob_key,
    result_text,
)
from proofs.tool.docgen.sources import Context


def contracts_section(ctx: Context) -> str:
    out = [
        "## Contracts\n",
        "The CrossHair contracts of `impl/contracts.py` (one per seed function and caller path, "
        "PEP 316 `pre:`/`post:` lines) with the last committed `rmap-verify contracts --json` "
        "results, `proofs/results/contracts-<variant>.json`.\n",
    ]
    if not ctx.contracts:
        out.append("No contracts yet: `impl/contracts.py` does not exist.\n")
        return "\n".join(out)
    out.append(
        table(
            ["contract", "defined at", *VARIANTS],
            [
                [
                    f"[`{c.name}`](#contracts-{c.name})",
                    c.where,
                    *(contract_status(ctx, v, c.name) for v in VARIANTS),
                ]
                for c in ctx.contracts.values()
            ],
        )
    )
    for c in ctx.contracts.values():
        out.append(f"### {c.name} {{#contracts-{c.name}}}\n")
        out.append(f"{c.summary} (`{c.where}`)\n")
        out.append(fence("text", "\n".join(c.conditions)))
        for variant in VARIANTS:
            rows = [r for r in ctx.contract_results.get(variant, []) if r.function == c.name]
            if rows:
                out.append(f"On {variant}:\n")
                out.append(contract_table(rows))
    return "\n".join(out)


def obligations_page(ctx: Context) -> str:
    out = [
        "# Obligations and contracts\n",
        "The proof obligations are data (`proofs.registry.OBLIGATIONS`); the results are the "
        "last committed `rmap-verify prove --json` reports, `proofs/results/prove-<variant>.json`. "
        "Only *proved* passes: unknown, timeout, vacuous and error fail like a counterexample.\n",
    ]
    if ctx.obligations is None:
        out.append("No obligations yet: `proofs.registry` does not exist.\n")
    else:
        if ctx.results is None:
            out.append("Not run yet: no `proofs/results/prove-*.json` is committed.\n")
        else:
            out.append(
                table(
                    ["variant", "run at", "z3", "obligations", "passed", "seconds"],
                    [
                        [
                            v,
                            r.get("timestamp", "?"),
                            r.get("z3_version", "?"),
                            ", ".join(
                                f"{n} {st}"
                                for st, n in sorted(r.get("totals", {}).items())
                                if st not in ("obligations", "passed", "seconds") and n
                            ),
                            {True: "yes", False: "no"}.get(r.get("totals", {}).get("passed"), "?"),
                            r.get("totals", {}).get("seconds", "?"),
                        ]
                        for v, r in ctx.runs.items()
                    ],
                )
            )
        rows = []
        for ob in sorted(ctx.obligations, key=ob_key):
            r = None if ctx.results is None else ctx.results.get((ob.name, ob.variant))
            seconds = "" if r is None or r.seconds is None else f"{r.seconds:.2f} s"
            rows.append(
                [
                    f"[{ob.name}](#{ob_anchor(ob)})",
                    ob.prop,
                    ob.variant,
                    result_text(ob, ctx.results),
                    seconds,
                    bounded(ob),
                ]
            )
        out.append(table(["obligation", "property", "variant", "result", "time", "bounded"], rows))
        for ob in sorted(ctx.obligations, key=ob_key):
            out.append(f"### {ob.name} [{ob.variant}] {{#{ob_anchor(ob)}}}\n")
            out.append(f"{ob.statement}\n")
            facts = [
                [
                    "function",
                    f"[`{ob.function}`](seed.md#{ob.function})" if _is_seed_fn(ctx, ob) else ob.function,
                ],
                ["property", ob.prop],
                ["method", ob.method],
                ["invariants", ", ".join(f"[`{n}`](invariants.md#{n})" for n in ob.invariants) or "none"],
                ["runner", f"`{ob.runner}`"],
                ["result", result_text(ob, ctx.results)],
            ]
            r = None if ctx.results is None else ctx.results.get((ob.name, ob.variant))
            if r is not None and r.findings:
                facts.append(["findings", ", ".join(f"[{f}](findings/{f}.md)" for f in r.findings)])
            if r is not None and not r.passed:
                facts.append(["failing conjunct", r.conjunct or "not named"])
                if r.shows:
                    facts.append(["its replay shows", ", ".join(r.shows)])
            out.append(table(["", ""], facts))
            if r is not None and r.trace:
                out.append(f'??? failure "Counterexample trace (replay with `--variant {ob.variant}`)"\n')
                body = "\n".join(json.dumps(op, sort_keys=True) for op in r.trace)
                out.append(textwrap.indent(fence("json", body), "    "))
    out.append(contracts_section(ctx))
    return "\n".join(out)


def _is_seed_fn(ctx: Context, ob: Obligation) -> bool:
    return any(f.name == ob.function for f in ctx.seed)
