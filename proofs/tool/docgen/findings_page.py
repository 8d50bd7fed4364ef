"""docs/findings/: one page per finding, and their index."""

from __future__ import annotations

import difflib
import inspect
import json
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from impl.fixes import FIXES
from impl.rmap_seed import SeedRmap
from proofs.attribution import lacks_every_fix
from proofs.findings import FINDINGS, Finding
from proofs.obligation import Obligation
from proofs.tool.docgen import c_oracle
from proofs.tool.docgen.markdown import fence, table
from proofs.tool.docgen.results import contract_table, obligation_table
from proofs.tool.docgen.sources import ROOT, Context, DocsError, replay_file, repo_path

# ---------------------------------------------------------------- findings


def _node(kind: str, name: object) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{name}")


def mermaid_state(record: Mapping[str, Any]) -> str:
    """A Mermaid flowchart of a trace record: pages, their direct pointer or
    chain, the ptes with their mm, the mms with rss; lost and leaked in red."""
    out = ["flowchart TB"]
    recorded: set[tuple[int, str]] = set()
    chained = 0
    for page in record["pages"]:
        pid = _node("page", page["pfn"])
        flags = " ".join(f for f in page["flags"] if f != "direct")
        shape = "direct" if page["direct"] else "chain" if page["chain_nodes"] > 0 else "no rmap"
        label = f"page {page['pfn']}<br/>count {page['count']}, {shape}" + (f"<br/>{flags}" if flags else "")
        out.append(f'  {pid}["{label}"]')
        if isinstance(page["rmap"], str):
            out.append(f'  {pid} --- {pid}_bad["{page["rmap"].replace(chr(34), chr(39))}"]')
            out.append(f"  class {pid}_bad bad")
            continue
        if page["direct"]:
            for pte in page["rmap"]:
                out.append(f"  {pid} -->|pte.direct| {_node('pte', pte)}")
                recorded.add((page["pfn"], pte))
        else:
            prev, edge = pid, "pte.chain"
            for i, pte in enumerate(page["rmap"]):
                node = f"{pid}_pc{i}"
                out.append(f'  {node}(["pte_chain"])')
                out.append(f"  {prev} -->|{edge}| {node}")
                out.append(f"  {node} -->|ptep| {_node('pte', pte)}")
                recorded.add((page["pfn"], pte))
                prev, edge = node, "next"
            chained += len(page["rmap"])
    for pte in record["ptes"]:
        nid = _node("pte", pte["name"])
        if pte["present"]:
            held = f"maps page {pte['pfn']}"
        elif pte["swap"] is not None:
            held = f"swap {pte['swap']}"
        else:
            held = "empty"
        out.append(f'  {nid}[/"pte {pte["name"]} @ {pte["address"]:#x}<br/>{held}"/]')
        out.append(f"  {nid} -.- {_node('mm', pte['mm'])}")
        if pte["present"] and (pte["pfn"], pte["name"]) not in recorded:
            known = any(
                p["pfn"] == pte["pfn"] and p["valid"] and "reserved" not in p["flags"]
                for p in record["pages"]
            )
            if known:
                out.append(f"  {nid} -. maps, not in rmap .-> {_node('page', pte['pfn'])}")
                out.append(f"  class {nid} bad")
    for mm in record["mms"]:
        lock = f"<br/>page_table_lock: {mm['page_table_lock']}" if mm["page_table_lock"] else ""
        out.append(f'  {_node("mm", mm["name"])}[("mm {mm["name"]}<br/>rss {mm["rss"]}{lock}")]')
    leaked = record["pte_chain_objects"] - chained
    if leaked > 0:
        out.append(f'  leaked(["{leaked} pte_chain object(s) on no chain"])')
        out.append("  class leaked bad")
    out.append("  classDef bad stroke:#c62828,stroke-width:3px,color:#c62828")
    return "\n".join(out)


def state_rows(record: Mapping[str, Any]) -> dict[str, str]:
    """The state of a record as (what, value) facts, for a text table."""
    rows: dict[str, str] = {}
    for page in record["pages"]:
        if isinstance(page["rmap"], str):
            rmap = page["rmap"]
        elif not page["rmap"]:
            rmap = "none"
        else:
            rmap = ("direct " if page["direct"] else "chain ") + " → ".join(page["rmap"])
        rows[f"page {page['pfn']} reverse map"] = rmap
        rows[f"page {page['pfn']} count"] = str(page["count"])
        rows[f"page {page['pfn']} flags"] = " ".join(page["flags"]) or "none"
    for pte in record["ptes"]:
        if pte["present"]:
            held = f"maps page {pte['pfn']}"
        elif pte["swap"] is not None:
            held = f"swap entry {pte['swap']}"
        else:
            held = "empty"
        rows[f"pte {pte['name']} ({pte['mm']} @ {pte['address']:#x})"] = held
    for mm in record["mms"]:
        rows[f"mm {mm['name']} rss"] = str(mm["rss"])
        if mm["page_table_lock"]:
            rows[f"mm {mm['name']} page_table_lock"] = mm["page_table_lock"]
    for entry, count in sorted(record["swap"].items()):
        rows[f"swap entry {entry} count"] = str(count)
    rows["nr_reverse_maps"] = str(record["nr_reverse_maps"])
    rows["live pte_chain objects"] = str(record["pte_chain_objects"])
    return rows


def _outcome_lines(record: Mapping[str, Any]) -> list[str]:
    out = [f"- result: `{json.dumps(record['result'], sort_keys=True)}`"]
    if record["fault"]:
        f = record["fault"]
        out.append(f"- fault: **{f['kind']}** in `{f['where']}`: {f['why']}")
    if record["precondition"]:
        out.append(f"- caller precondition failed: {record['precondition']}")
    for name, msgs in sorted(record["violations"].items()):
        for msg in msgs:
            out.append(f"- violates [`{name}`](../invariants.md#{name}): {msg}")
    for msg in record["spec_mismatch"]:
        out.append(f"- differs from the spec: {msg}")
    if len(out) == 1:
        out.append("- nothing violated, no difference from the spec")
    return out


def fix_lines(finding_id: str) -> list[tuple[int, str]]:
    """(line, text) of every FIX(Fn) comment of impl/fixes.py, with the
    comment lines that continue it."""
    lines = (ROOT / "impl" / "fixes.py").read_text(encoding="utf-8").splitlines()
    out = []
    marker = f"FIX({finding_id})"
    for i, line in enumerate(lines):
        if marker not in line:
            continue
        out.append((i + 1, line.strip()))
        j = i + 1
        if line.strip().startswith("#"):
            while j < len(lines) and lines[j].strip().startswith("#") and "FIX(" not in lines[j]:
                out.append((j + 1, lines[j].strip()))
                j += 1
    return out


def fix_diff(finding_id: str) -> str:
    """The unified diff from the seed's port to the finding's fix, method by method."""
    out: list[str] = []
    for name, fixed in vars(FIXES[finding_id]).items():
        if inspect.isfunction(fixed):
            a = textwrap.dedent(inspect.getsource(getattr(SeedRmap, name))).splitlines()
            b = textwrap.dedent(inspect.getsource(fixed)).splitlines()
            out += difflib.unified_diff(a, b, "impl/rmap_seed.py", "impl/fixes.py", lineterm="", n=2)
    return "\n".join(out)


def exposing(finding_id: str, ctx: Context) -> list[Obligation]:
    """The obligations on seed whose committed counterexamples the finding's fix removes."""
    results = ctx.results or {}
    return [
        ob
        for ob in ctx.obligations or ()
        if lacks_every_fix(ob.variant)
        and finding_id in getattr(results.get((ob.name, ob.variant)), "findings", ())
    ]


def rounds_table(finding_id: str, obs: list[Obligation], ctx: Context) -> str:
    """Per obligation, the round that exposed the finding: the variant it was found on, what
    its trace shows there, and the command that replays it."""
    results = ctx.results or {}
    rows = []
    for ob in obs:
        for row in results[(ob.name, ob.variant)].rounds:
            if finding_id in row["findings"]:
                removes = [n for n, fixes in row["removed_by"].items() if finding_id in fixes]
                rows.append([ob.name, row["variant"], ", ".join(removes), f"`{row['command']}`"])
    return table(["obligation", "found on", "its fix removes", "replay"], rows)


def finding_page(f: Finding, ctx: Context) -> str:
    trace = f.trace.read_text(encoding="utf-8")
    seed_records = replay_file(f.trace, "seed")
    fixed_records = replay_file(f.trace, "fixed")
    before, after = seed_records[-2], seed_records[-1]
    ops = [json.loads(line) for line in trace.splitlines() if line.strip()]
    failing = json.dumps(ops[-1], sort_keys=True)
    seed_fn = next((s for s in ctx.seed if s.name == f.function), None)
    where = f"[`{f.function}`](../seed.md#{f.function})" if seed_fn else f"`{f.function}`"
    out = [
        f"# {f.id}: {f.title}\n",
        f"In {where}, {f.seed_lines}. The trace shows: " + ", ".join(f"`{s}`" for s in f.shows) + ".\n",
        "## What fails\n",
        f"{f.fails}\n",
        "## Consequence in the kernel\n",
        f"{f.kernel}\n",
        "## Minimal counterexample\n",
        f"`{repo_path(f.trace)}`, one trace operation a line ([format](../traces.md)):\n",
        fence("json", trace),
        "Replay it on the seed and on the fixed variant:\n",
        fence(
            "sh",
            f"rmap-verify replay {repo_path(f.trace)} --variant seed | tail -1\n"
            f"rmap-verify replay {repo_path(f.trace)} --variant fixed | tail -1",
        ),
        f"The failing operation is the last one, `{failing}`. On **seed** its record reports:\n",
        "\n".join(_outcome_lines(after)) + "\n",
        "On **fixed** the same operation reports:\n",
        "\n".join(_outcome_lines(fixed_records[-1])) + "\n",
        "## State before and after the failing operation\n",
        "Red marks a pte that maps the page without being in its reverse map, and pte_chain "
        "objects that are on no chain.\n",
        "### Before (seed)\n",
        fence("mermaid", mermaid_state(before)),
        "### After (seed)\n",
        fence("mermaid", mermaid_state(after)),
        "### After (fixed)\n",
        fence("mermaid", mermaid_state(fixed_records[-1])),
        "### As text\n",
    ]
    b, a = state_rows(before), state_rows(after)
    xb, x = state_rows(fixed_records[-2]), state_rows(fixed_records[-1])

    def changed(now: Mapping[str, str], then: Mapping[str, str], key: str) -> str:
        return f"**{now.get(key, '')}**" if now.get(key) != then.get(key) else now.get(key, "")

    keys = list(dict.fromkeys([*b, *a, *xb, *x]))
    out.append(
        table(
            ["", "before (seed)", "after (seed)", "after (fixed)"],
            [[key, b.get(key, ""), changed(a, b, key), changed(x, xb, key)] for key in keys],
        )
    )
    out.append("Bold: changed by the failing operation in that variant.\n")
    out.append("## The fix\n")
    out.append(f"{f.fix}\n")
    fixes = fix_lines(f.id)
    if fixes:
        out.append(f"The `FIX({f.id})` lines of `impl/fixes.py`:\n")
        out.append(fence("python", "\n".join(f"{n:4}  {text}" for n, text in fixes)))
    out.append(f"`{FIXES[f.id].__name__}`, from the seed's port to the fix:\n")
    out.append(fence("diff", fix_diff(f.id)))
    out.append("## What fails because of it\n")
    failing_obs = exposing(f.id, ctx)
    if failing_obs:
        out.append(
            "The obligations on seed whose counterexamples this finding's fix removes (attributed by "
            "replay; each round's trace replays on the variant named):\n"
        )
        out.append(obligation_table(failing_obs, ctx, "../obligations.md"))
        out.append(rounds_table(f.id, failing_obs, ctx))
    else:
        out.append("No obligation's counterexample in the committed results is removed by its fix.\n")
    failing = [r for r in ctx.contract_results.get("seed", []) if f.id in r.findings]
    if failing:
        out.append("Contract conditions with a counterexample on seed that this finding explains:\n")
        out.append(contract_table(failing, "../", named=True))
    out.append(leave_one_out_section(f.id, ctx))
    out.append(c_section(f.id, ctx.c_oracle))
    return "\n".join(out)


def leave_one_out_section(finding_id: str, ctx: Context) -> str:
    """The result of ``leave-one-out Fn [fixed-Fn]`` in its committed run."""
    r = (ctx.results or {}).get((f"leave-one-out {finding_id}", f"fixed-{finding_id}"))
    variant = f"fixed-{finding_id}"
    run = f"`rmap-verify prove --variant {variant} --json proofs/results/prove-{variant}.json`"
    if r is None:
        return f"## Leave-one-out\n\nNot run yet: {run} runs it.\n"
    verdict = (
        f"holds: without the fix, `fixed` fails with a counterexample only {finding_id}'s fix removes, "
        "and with it the obligation proves"
        if r.passed
        else f"does not hold ({r.status})"
    )
    return f"## Leave-one-out\n\n{verdict} ({run}).\n"


def c_section(finding_id: str, results: Mapping[str, Any] | None) -> str:
    """The page's section on the C: the C's last record beside the port's, and
    the sanitizers' verdict, from proofs/results/c-oracle.json (issue 12)."""
    r = None if results is None else results["findings"].get(finding_id)
    if r is None:
        why = "proofs/results/c-oracle.json has no record of it (`python -m proofs.tool.oracle` writes it)"
        return f"## On the C\n\nNot run: {why}.\n"
    same = "the same violation as" if r["same_violation"] else "**not** the violation of"
    agree = (
        "Every record of the trace is the port's, op for op (`rmap-verify diff`)."
        if not r["differences"]
        else f"**{len(r['differences'])} of its records differ from the port's** (`rmap-verify diff`)."
    )
    out = [
        "## On the C\n",
        f"`rmap-verify replay {r['trace']} --c` runs the trace on the seed compiled as C "
        f"([the C oracle](../c-oracle.md)); its last record shows {same} the port: "
        f"{c_oracle.shows(r['c_shows'])}. {agree}\n",
    ]
    port, c = _c_rows(r["port_last"]), _c_rows(r["c_last"])
    keys = list(dict.fromkeys([*port, *c]))
    out.append(table(["last record", "port (seed)", "C"], [[k, port.get(k, ""), c.get(k, "")] for k in keys]))
    verdict = r["sanitizers"]["verdict"]
    out.append(f"Sanitizers on the C (`--sanitize`: ASan, UBSan, LeakSanitizer): {verdict}.\n")
    for stack in r["sanitizers"]["leak_stacks"]:
        frames = " ← ".join(f"`{frame}`" for frame in stack)
        out.append(f"LeakSanitizer's leaked object was allocated at {frames}.\n")
    return "\n".join(out)


def _c_rows(record: Mapping[str, Any]) -> dict[str, str]:
    """A record as the As-text table shows it, with what it reports."""
    rows = {
        "result": f"`{json.dumps(record['result'], sort_keys=True)}`",
        "fault": c_oracle.fault(record) or "none",
    }
    rows |= state_rows(record)
    rows["violations"] = c_oracle.shows(sorted(record["violations"]))
    rows["differs from the spec"] = "yes" if record["spec_mismatch"] else "no"
    return rows


def findings_index(ctx: Context) -> str:
    out = [
        "# Findings\n",
        "Where the seed, as shipped, breaks what the spec states. Each finding has a minimal trace "
        "that shows it when replayed on `seed` and shows nothing on `fixed` (`proofs/findings.py`).\n",
        table(
            ["finding", "function", "seed lines", "the trace shows", "obligations", "contract conditions"],
            [
                [
                    f"[{f.id}: {f.title}]({f.id}.md)",
                    f"`{f.function}`",
                    f.seed_lines,
                    ", ".join(f.shows),
                    len(exposing(f.id, ctx)),
                    sum(f.id in r.findings for r in ctx.contract_results.get("seed", [])),
                ]
                for f in FINDINGS
            ],
        ),
        "*Obligations*: those on seed with a counterexample the finding's fix removes, attributed by "
        "replay (`proofs.attribution`) in the committed results; "
        "*contract conditions*: those with a counterexample on seed the finding explains.\n",
    ]
    return "\n".join(out)


README_BEGIN = "<!-- findings table: generated by rmap-verify docs -->"
README_END = "<!-- end of findings table -->"


def readme_with_findings(readme: str, ctx: Context) -> str:
    """README.md with its findings table regenerated between the two markers."""
    if README_BEGIN not in readme or README_END not in readme:
        raise DocsError("README.md has lost the markers of its findings table")
    rows = []
    for f in FINDINGS:
        loo = (ctx.results or {}).get((f"leave-one-out {f.id}", f"fixed-{f.id}"))
        rows.append(
            [
                f"[{f.id}](docs/findings/{f.id}.md)",
                f"`{f.function}`",
                f.title,
                len(exposing(f.id, ctx)),
                "not run" if loo is None else ("holds" if loo.passed else loo.status),
            ]
        )
    body = table(["", "function", "what goes wrong", "seed obligations it explains", "leave-one-out"], rows)
    head, rest = readme.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    return f"{head}{README_BEGIN}\n{body}{README_END}{tail}"
