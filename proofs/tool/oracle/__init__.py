"""Tooling: the C oracle (impl/c/, the seed compiled as C) for the rest of the tool.

- ``run``: the oracles (the library in this process, a sanitizer-build
  process per replay), a trace on the port and the C side by side, and a
  counterexample on the C (what ``cexreplay`` adds to every replay);
- ``results``: ``python -m proofs.tool.oracle``, every finding and every
  committed counterexample on the C, into proofs/results/c-oracle.json;
- ``traces``: random caller-level traces, for the differential test and
  benchmarks/bench_c_oracle.py.

The commands are ``rmap-verify replay --c`` (``proofs.tool.replay_cmd``) and
``rmap-verify diff`` (``proofs.tool.diff_cmd``); the pages that show the
results are rendered by ``proofs.tool.docgen.c_oracle``.
"""
