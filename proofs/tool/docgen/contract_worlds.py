"""The contracts page's statement of the worlds, from the committed report (contracts --json)."""

from __future__ import annotations

import json
from typing import Any


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def worlds_tables(worlds: dict[str, Any]) -> str:
    """The bounds of impl.contract_worlds and each contract's choices with the
    preconditions that bound them, as the report states them."""
    bounds = dict(worlds["bounds"])
    places = bounds.pop("places")
    lines = [
        "| letter | the mapping's pte (upper case: dirty) |",
        "| --- | --- |",
        *(f"| `{letter}` | {_cell(where)} |" for letter, where in places.items()),
        "",
        "| bound | value |",
        "| --- | --- |",
        *(f"| {name} | `{_cell(json.dumps(value))}` |" for name, value in bounds.items()),
        "",
        "| contract | choices | preconditions |",
        "| --- | --- | --- |",
    ]
    for name, row in worlds["contracts"].items():
        choices = ", ".join(f"`{c}`" for c in row["choices"]) or "-"
        pre = "<br>".join(f"`{_cell(p)}`" for p in row["pre"]) or "-"
        lines.append(f"| `{name}` | {choices} | {pre} |")
    return "\n".join(lines) + "\n"
