"""Tooling: ``rmap-verify mutants``, mutation testing of the corrected variant.

cosmic-ray (its operators, its mutant enumeration and its on-disk mutation)
makes every mutant of the code the ``fixed`` variant runs: impl/fixes.py,
the methods of impl/rmap_seed.py that FixedRmap inherits, and impl/callers.py.
Mutants inside type annotations are not made: ``from __future__ import
annotations`` keeps Python from ever evaluating them.

Each mutant is written into a private copy of the committed project (git
HEAD; never the working tree) and judged by ``stages()``: the tests, the
proof obligations and the contracts, in order, stopping at the first that
fails.  A mutant is **killed** when a stage exits non-zero or runs past
its timeout (``TIMEOUT_FACTOR`` times the stage's time on the unmutated code,
at least ``TIMEOUT_MIN`` seconds); it **survives** when every stage passes.
A survivor listed in ``EQUIVALENT`` (with the reason no test can tell it
apart) is **equivalent**; any other survivor fails the run.  The mutation
score is killed / (mutants - equivalent).

- ``scope``: what is mutated, the stages that judge a mutant, the known
  equivalent mutants;
- ``generate``: every mutant cosmic-ray makes in scope, and the quick subset;
- ``judge``: private copies of the project, and the stages run on each mutant;
- ``command``: ``rmap-verify mutants``, its report and the mutation page's table.
"""
