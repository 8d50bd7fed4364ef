"""What is proven about the port of mm/rmap.c, by which engine, and the tooling around it.

Proven (each obligation is data, ``proofs.obligation.Obligation``, and every
one of every engine is in ``proofs.registry.OBLIGATIONS``):

- ``proofs.z3``: engine z3, unbounded (inductive) and bounded proofs of
  every rmap function and caller path: invariant preservation, refinement
  both ways, balanced counts, return values;
- ``proofs.interleave``: engine exhaustive interleavings of concurrent
  fault, zap and reclaim paths: no deadlock, the invariant at every
  lock-free state, SWAP_AGAIN is transient;
- ``proofs.exhaustive``: engine bounded exhaustive check on impl/ of
  try_to_unmap's chain surgery;
- ``proofs.crosshair``: engine CrossHair, the contracts of impl/contracts.py
  (``rmap-verify contracts``; conditions, not registry obligations).

Where the seed fails: ``proofs.findings`` (F1-F5) with their traces in
proofs/findings/, and the committed results of each run in proofs/results/.

Tooling, none of which proves anything itself: ``proofs.tool`` holds the
command line (``cli``), the runner and its reports, the counterexample
replay, the trace replay command, the ``-k`` selection, the runner's
self-check obligations, mutation testing (``mutants``), the docs
generator (``docgen``), and the C oracle's side of the tool
(``proofs.tool.oracle``, ``diff_cmd``, ``replay --c``): the seed compiled
as C by impl/c/, every finding and every counterexample replayed on it
beside the port (proofs/results/c-oracle.json).
"""
