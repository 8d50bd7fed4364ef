"""The benchmark tables of docs/benchmarks.md, rendered from proofs/results/bench.json.

benchmarks/bench.py measures and writes the results file; this renders
it, for that script's own output and for the docs, so every figure on the
page is the results file's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from proofs.attribution import lacks_every_fix

Row = list[Any]


def obligation_rows(result: dict[str, Any]) -> list[Row]:
    return [
        [ob["ident"], ob["method"], "/".join(ob["statuses"]), f"{ob['median_seconds']:.2f}"]
        for ob in sorted(result["obligations"], key=lambda ob: (ob["variant"], ob["function"], ob["ident"]))
    ]


def suite_rows(result: dict[str, Any]) -> list[Row]:
    total = {
        v: sum(ob["median_seconds"] for ob in result["obligations"] if ob["variant"] == v)
        for v in ("seed", "fixed")
    }
    rows = [[f"sum of obligation medians, {v}", f"{s:.1f}"] for v, s in total.items()]
    rows += [
        [f"whole suite (both variants), wall, {k}", f"{s:.1f}"]
        for k, s in result["suite_wall_seconds"].items()
    ]
    return rows


def finding_rows(result: dict[str, Any]) -> list[Row]:
    by_finding: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ob in result["obligations"]:
        # the benchmark's own record of what explained each obligation on seed
        for fid in ob.get("findings") or ([ob["finding"]] if ob.get("finding") else []):
            if lacks_every_fix(ob["variant"]):
                by_finding[fid].append(ob)
    rows = []
    for fid in sorted(by_finding):
        obs = by_finding[fid]
        cex = [ob for ob in obs if "counterexample" in ob["statuses"]]
        fastest = min(cex, key=lambda ob: ob["median_seconds"]) if cex else None
        rows.append(
            [
                fid,
                len(obs),
                len(cex),
                fastest["ident"] if fastest else "none found",
                f"{fastest['median_seconds']:.2f}" if fastest else "-",
            ]
        )
    return rows


# ------------------------------------------------------------ 3: bounded vs unbounded


def bounded_rows(result: dict[str, Any], unbounded: dict[str, float]) -> list[Row]:
    rows = []
    for row in result["lengths"]:
        cells: Row = [row["n"]]
        for variant in ("fixed", "seed"):
            r = row[variant]
            if "median_seconds" not in r:
                cells += [r["status"], "-"]
                continue
            what = r["status"] + (f" ({r['failing']})" if r["failing"] and lacks_every_fix(variant) else "")
            cells += [what, f"{r['median_seconds']:.3f}"]
        cells.append(f"{unbounded['fixed']:.2f}" if unbounded else "-")
        rows.append(cells)
    return rows


def unbounded_unmap(obligations: dict[str, Any] | None) -> dict[str, float]:
    """The unbounded proof of try_to_unmap: the sum of its obligations' medians."""
    if not obligations:
        return {}
    return {
        v: sum(
            ob["median_seconds"]
            for ob in obligations["obligations"]
            if ob["variant"] == v and ob["function"] == "try_to_unmap" and "unbounded" in ob["method"]
        )
        for v in ("fixed", "seed")
    }


# ------------------------------------------------------------ 4: replay throughput


def table(title: str, header: Row, rows: list[Row]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(map(str, header)) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [
        f"Measured {results['timestamp']} at commit `{results['commit']}` on {m['cores']} cores, "
        f"Python {m['python']}, z3 {m['z3']}; medians of {results['runs']} runs.\n"
    ]
    obligations = results.get("obligations")
    if obligations:
        parts.append(
            table(
                "Proof obligations (one process, no other obligation running)",
                ["obligation", "method", "status", "seconds"],
                obligation_rows(obligations),
            )
        )
        parts.append(table("The whole suite", ["run", "seconds"], suite_rows(obligations)))
        parts.append(
            table(
                "Time to each finding's counterexample (seed)",
                ["finding", "obligations", "with counterexample", "fastest", "seconds"],
                finding_rows(obligations),
            )
        )
    elif "obligations_skipped" in results:
        parts.append(f"### Proof obligations\n\nNot measured: {results['obligations_skipped']}\n")
    b = results["bounded"]
    parts.append(
        table(
            f"try_to_unmap: bounded unrolling by chain length against the unbounded proof "
            f"(timeout {b['timeout']:g} s; encoding checked against impl/ on "
            f"{b['checked_against_impl']} concrete cases)",
            ["n", "bounded, fixed", "seconds", "bounded, seed", "seconds", "unbounded (fixed), any n"],
            bounded_rows(b, unbounded_unmap(obligations)),
        )
    )
    r = results["replay"]
    parts.append(
        table(
            f"Replay throughput (random traces of {r['ops_per_trace']} operations, each record checked)",
            ["variant", "operations / s", "records with a kernel fault"],
            [[v, r[v]["ops_per_second"], f"{100 * r[v]['faulted_share']:.1f}%"] for v in ("fixed", "seed")],
        )
    )
    c = results.get("contracts")
    if c:
        parts.append(
            table(
                "rmap-verify contracts",
                ["variant", "seconds", "exit code"],
                [[v, c[v]["median_seconds"], c[v]["exit_codes"]] for v in ("fixed", "seed")],
            )
        )
    elif "contracts_skipped" in results:
        parts.append(f"### rmap-verify contracts\n\nNot measured: {results['contracts_skipped']}\n")
    cc = results.get("concurrency")
    if cc:
        parts.append(f"### Concurrency (benchmarks/bench_concurrency.py)\n\n```\n{cc['output']}\n```\n")
    return "\n".join(parts)
