"""A sample of what ``rmap-verify prove --variant seed`` prints, rendered from its committed results.

The runner's page shows the real thing: the console module itself lays out
the first result lines, the summary and one failure from
proofs/results/prove-seed.json, so the sample can neither drift from the
output format nor from the figures of the last run.
"""

from __future__ import annotations

from typing import Any

from proofs.obligation import Outcome
from proofs.tool.console import failure, plain_lines, result_line
from proofs.tool.docgen.sources import DocsError, load_obligations
from proofs.tool.result import Result, summary_line

SAMPLE_LINES = 6  # result lines shown, out of every obligation
SAMPLE_FAILURE = "try_to_unmap balanced counts [seed]"  # the failure shown whole


def prove_sample(report: dict[str, Any]) -> str:
    registry = {ob.ident: ob for ob in load_obligations() or ()}
    results = []
    for row in report["obligations"]:
        if row["ident"] not in registry:
            raise DocsError(f"prove-seed.json names {row['ident']}, which proofs.registry does not hold")
        outcome = Outcome(row["status"], row["seconds"], row["detail"])
        results.append(Result(registry[row["ident"]], outcome))
    width = len(str(len(results)))
    lines = [
        f"[{i:>{width}}/{len(results)}] {result_line(r)}" for i, r in enumerate(results[:SAMPLE_LINES], 1)
    ]
    lines.append("...")
    line = summary_line(results, report["totals"]["seconds"])
    lines += ["", f"Summary: {line}", "...", ""]
    shown = next(r for r in results if r.obligation.ident == SAMPLE_FAILURE)
    lines += plain_lines(failure(shown))
    lines += ["...", "", line]
    return "```text\n" + "\n".join(lines) + "\n```"
