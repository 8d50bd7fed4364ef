"""What docs/ needs of the seed, committed as facts, so that a clone without the seed builds its docs.

The seed (mm/rmap.c of Linux 2.5.31) is the project's input and is not in
the repository.  The pages need only its functions' names, line ranges and
kernel-doc summaries; those are kept in ``seed_facts.json`` with the sha256
and line count of the file they were read from.  Where the seed is present
(``SEED_PATHS``), ``rmap-verify docs`` reads the facts afresh and
``--check`` fails when the committed ones differ; where it is absent the
committed facts are used and the check says, in one line, that it was
skipped and why.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from proofs.tool.paths import ROOT

FACTS_FILE = Path(__file__).with_name("seed_facts.json")
# Where the seed may be: a seed/ folder in the clone, or shared/ laid beside it.
SEED_PATHS = (ROOT / "seed" / "rmap.c", ROOT.parent / "shared" / "seed" / "rmap.c")
SOURCE = "mm/rmap.c of Linux 2.5.31"


class SeedFactsError(Exception):
    """The committed facts cannot be read; the message names the file."""


@dataclass(frozen=True)
class SeedFunction:
    name: str
    first: int  # the signature's line
    last: int  # the closing brace
    summary: str  # the kernel-doc line "name - what it does", or ""


@dataclass(frozen=True)
class SeedFacts:
    source: str
    sha256: str
    line_count: int
    functions: tuple[SeedFunction, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def facts_of(text: str) -> SeedFacts:
    """Every function the seed defines, with its lines (1-based) and summary."""
    lines = text.splitlines()
    head = re.compile(r"^(?:static\s+)?(?:inline\s+)?(?:void|int|struct\s+\w+\s*\*)\s*(?:__init\s+)?(\w+)\(")
    found = []
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        j = i
        while not lines[j].rstrip().endswith(";") and lines[j + 1].strip() != "{":
            j += 1
        if lines[j].rstrip().endswith(";"):
            continue  # a declaration
        end = next(k for k in range(j, len(lines)) if lines[k] == "}")
        summary = ""
        doc = re.compile(rf"^ \* {m.group(1)} - (.*)$")
        for k in range(i - 1, max(i - 25, 0), -1):
            if lines[k].startswith("/**"):
                break
            if d := doc.match(lines[k]):
                summary = d.group(1)
        found.append(SeedFunction(m.group(1), i + 1, end + 1, summary))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SeedFacts(SOURCE, digest, len(lines), tuple(found))


def committed() -> SeedFacts:
    try:
        data = json.loads(FACTS_FILE.read_text(encoding="utf-8"))
        return SeedFacts(
            data["source"],
            data["sha256"],
            data["line_count"],
            tuple(SeedFunction(**f) for f in data["functions"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as why:
        raise SeedFactsError(f"{FACTS_FILE.relative_to(ROOT)} cannot be read: {why}") from None


def find_seed() -> Path | None:
    return next((p for p in SEED_PATHS if p.is_file()), None)


def current() -> tuple[SeedFacts, str | None]:
    """The facts to generate from (read afresh where the seed is present, else the committed ones),
    and, when the seed is absent, the one line that says its check is skipped."""
    seed = find_seed()
    if seed is None:
        facts = committed()
        where = " or ".join(str(p) for p in SEED_PATHS)
        return facts, (
            f"seed check skipped: the seed is not at {where}; "
            f"docs use the committed facts ({FACTS_FILE.name}, sha256 {facts.sha256[:12]})"
        )
    return facts_of(seed.read_text(encoding="utf-8")), None


def function_at(funcs: Sequence[SeedFunction], line: int) -> SeedFunction | None:
    return next((f for f in funcs if f.first <= line <= f.last), None)
