"""Tooling around the proofs: nothing here proves anything; it runs, reports and documents.

- ``cli``: ``rmap-verify`` and its subcommands; ``paths``: where things are;
- ``runner``: ``rmap-verify prove``, obligations in parallel, each contained;
- ``report``: the console, JSON and JUnit forms of a run;
- ``cexreplay``: every counterexample replayed on impl/ before it counts;
- ``replay_cmd``: ``rmap-verify replay``, a trace in, state records out;
- ``selfcheck``: obligations that answer each way on purpose, to test the runner;
- ``mutants``: ``rmap-verify mutants``, mutation testing of impl/;
- ``docgen``: ``rmap-verify docs``, docs/ generated from the code and results.
"""
