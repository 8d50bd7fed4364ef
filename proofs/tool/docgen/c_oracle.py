"""docs/c-oracle.md's tables, rendered from the C oracle's results files.

proofs/results/c-oracle.json (``python -m proofs.tool.oracle``) gives the
findings table (and each finding page's section on the C,
``findings_page.c_section``); proofs/results/bench_c_oracle.json
(benchmarks/bench_c_oracle.py) the benchmark table.  Nothing here runs the
C: a clone without a compiler or the seed builds the same pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proofs.tool.docgen.markdown import table


def shows(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "nothing"


def fault(record: Mapping[str, Any]) -> str:
    fault = record["fault"]
    return "" if fault is None else f"{fault['kind']} in `{fault['where']}`"


def findings_table(results: Mapping[str, Any]) -> str:
    """docs/c-oracle.md's table: each finding on the port and on the C, and
    the committed counterexamples on the C."""
    rows = [
        [
            f"[{ident}](findings/{ident}.md)",
            shows(r["shows"]),
            shows(r["port_shows"]),
            shows(r["c_shows"]),
            "yes" if r["same_violation"] else "**no**",
            fault(r["c_last"]),
            r["sanitizers"]["verdict"],
        ]
        for ident, r in sorted(results["findings"].items())
    ]
    header = ["finding", "the finding shows", "port (seed) shows", "C shows", "same", "C's fault"]
    cex = results["counterexamples"]
    return (
        table([*header, "sanitizers on the C"], rows)
        + f"\nThe {cex['counterexamples']} counterexamples of `{cex['report']}` on the C: {cex['replay']} "
        f"show a failure there too, and {cex['identical']} give the port's records, op for op"
        + (
            f"; not run there, as concurrent schedules: {', '.join(cex['schedules'])}"
            if cex.get("schedules")
            else ""
        )
        + ".\n"
    )


def bench_table(r: Mapping[str, Any]) -> str:
    """docs/c-oracle.md's benchmark table, from proofs/results/bench_c_oracle.json."""
    port, c, san, cost = r["port"], r["c"], r["sanitizer"], r["fault_cost"]
    outcomes = ", ".join(f"{name} {n}" for name, n in r["outcomes"].items())
    rows = [
        ["records where the C and the port differ", f"**{r['divergences']}** of {r['ops']}"],
        ["port (variant seed), operations a second", f"{port['ops_per_second']:,} ({port['seconds']} s)"],
        [
            "C oracle, operations a second (C run, state read back, record built)",
            f"{c['ops_per_second']:,} ({c['seconds']} s)",
        ],
        [
            "of which in the C library itself",
            f"{c['native_ops_per_second']:,} a second ({c['native_seconds']} s)",
        ],
        ["what the operations did (on the C)", outcomes],
        [
            "a world of two maps in the library, without and with F3's oops caught by sigsetjmp",
            f"{cost['no_fault_us']} µs, {cost['oops_us']} µs",
        ],
        [
            f"sanitizer build: {san['traces']} traces ({san['ops']} operations), one process each",
            f"{san['seconds_per_process']} s a process",
        ],
        [
            "LeakSanitizer's leaked objects equal the port's leaked pte_chains",
            f"in {san['leaks_agree_with_port']} of {san['traces']} traces ({san['port_leaking']} leak on "
            f"the port, {san['traces_leaking']} under LeakSanitizer)",
        ],
        ["UBSan reports, ASan errors", f"{san['ubsan_reports']}, {san['asan_errors']}"],
    ]
    cores = f" on {r['cores']} cores" if "cores" in r else ""
    head = (
        f"Measured at commit `{r['commit']}`{cores} with Python {r['python']} and "
        f"{r['compiler']}: `{r['command'].strip()}`, {r['traces']} traces of {r['ops_per_trace']} "
        f"caller-level operations (random seed {r['seed']}).\n"
    )
    return head + "\n" + table(["", ""], rows)
