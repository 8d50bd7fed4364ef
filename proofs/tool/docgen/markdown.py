"""Markdown building blocks shared by every generated page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from proofs.tool.docgen.seed_facts import SeedFunction, function_at
from proofs.tool.docgen.sources import SEED_REF

# ---------------------------------------------------------------- markdown helpers


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def fence(lang: str, body: str, attrs: str = "") -> str:
    ticks = "````" if "```" in body else "```"
    return f"{ticks}{lang}{(' ' + attrs) if attrs else ''}\n{body.rstrip()}\n{ticks}\n"


def seed_links(text: str, funcs: Sequence[SeedFunction], page: str = "seed.md") -> str:
    """Turn [rmap.c:N] references into links to the seed function holding line N."""

    def one(line: str) -> str:
        f = function_at(funcs, int(line))
        return line if f is None else f"[{line}]({page}#{f.name})"

    def link(m: re.Match[str]) -> str:
        lines = re.findall(r"\d+", m.group(0)[len("[rmap.c:") :])
        return "rmap.c:" + ", ".join(one(n) for n in lines)

    return SEED_REF.sub(link, text)


def status_mark(status: str) -> str:
    """A result, failures in bold (plain text: no emoji font needed)."""
    return status if status in ("proved", "verified") else f"**{status}**"


def shorten(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
