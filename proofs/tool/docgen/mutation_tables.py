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
