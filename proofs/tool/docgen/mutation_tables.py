"""The mutation page's tables, rendered from proofs/results/mutants.json (``rmap-verify mutants``)."""

from __future__ import annotations

from typing import Any


def mutation_tables(body: dict[str, Any]) -> str:
    """The run's numbers and every mutant that was not killed, for docs_src/mutation.md."""
    t = body["totals"]
    score = "n/a" if t["score"] is None else f"{100 * t['score']:.1f}%"
    lines = [
        f"Run of {body['tool']} on commit `{(body['commit'] or 'unknown')[:12]}`, "
        f"{body['seconds']:.0f} s" + (f" on {body['cores']} cores." if "cores" in body else "."),
        "",
        "| mutants | killed | by timeout | equivalent | survived | score |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {t['mutants']} | {t['killed']} | {t['timeouts']} | {t['equivalent']} | {t['survived']} "
        f"| {score} |",
        "",
        "Killed, by the stage that killed them: "
        + ", ".join(
            f"{name} {sum((m['killed_by'] or '').startswith(name + ':') for m in body['mutants'])}"
            for name in (s["name"] for s in body["stages"])
        )
        + ".",
        "",
        "| mutant | line | change | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for m in body["mutants"]:
        if m["status"] != "killed":
            change = m["diff"].splitlines()[-1][1:].strip().replace("|", "\\|")
            lines.append(
                f"| `{m['ident']}` | {m['line']} | `{change}` | {m['status']}: {m['reason'] or '-'} |"
            )
    return "\n".join(lines) + "\n"


def stage_tables(body: dict[str, Any]) -> str:
    """One stage's run alone (``rmap-verify mutants --stage NAME``): its kill
    rate, and every survivor with why the stage cannot see it."""
    t = body["totals"]
    rate = "n/a" if t["score"] is None else f"{100 * t['score']:.1f}%"
    stage = body["stage_alone"]
    lines = [
        f"Run of {body['tool']} on commit `{(body['commit'] or 'unknown')[:12]}`, the {stage} stage "
        f"alone (`{body['stages'][0]['command']}`), {body['seconds']:.0f} s on {body['cores']} cores.",
        "",
        "| stage | mutants | killed | by timeout | equivalent | blind | survived | kill rate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {stage} | {t['mutants']} | {t['killed']} | {t['timeouts']} | {t['equivalent']} | {t['blind']} "
        f"| {t['survived']} | {rate} |",
        "",
        f"| mutant | line | change | why the {stage} stage cannot see it |",
        "| --- | --- | --- | --- |",
    ]
    for m in body["mutants"]:
        if m["status"] in ("blind", "survived"):
            change = m["diff"].splitlines()[-1][1:].strip().replace("|", "\\|")
            why = m["reason"] or "NOT EXPLAINED"
            lines.append(f"| `{m['ident']}` | {m['line']} | `{change}` | {why} |")
    return "\n".join(lines) + "\n"


def stage_rates(bodies: dict[str, dict[str, Any] | None]) -> str:
    """Each stage's own kill rate (``rmap-verify mutants --stage NAME``), side
    by side; a stage whose report is absent is "not measured"."""
    lines = [
        "| stage | judged by, alone | mutants | killed | equivalent | blind | survived | kill rate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for stage, body in bodies.items():
        if body is None:
            lines.append(f"| {stage} | not measured | - | - | - | - | - | not measured |")
            continue
        t = body["totals"]
        rate = "n/a" if t["score"] is None else f"{100 * t['score']:.1f}%"
        lines.append(
            f"| {stage} | `{body['stages'][0]['command']}` | {t['mutants']} | {t['killed']} | "
            f"{t['equivalent']} | {t['blind']} | {t['survived']} | {rate} |"
        )
    return "\n".join(lines) + "\n"
