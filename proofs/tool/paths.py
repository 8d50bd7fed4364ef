"""Where the repository's parts are, for the tools that read and write them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "proofs" / "results"  # the committed results files docs/ reads
DOCS_SRC = ROOT / "docs_src"  # the hand-written pages
