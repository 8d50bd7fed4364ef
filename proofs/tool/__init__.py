"""Tooling around the proofs: nothing here proves anything; it runs, reports and documents.

- ``cli``: ``rmap-verify`` and its subcommands; ``paths``: where things are;
- ``runner``: ``rmap-verify prove``, obligations in parallel, each contained;
- ``report``: the console, JSON and JUnit forms of a run;
- ``cexreplay``: every counterexample replayed on impl/ before it counts (and on the C, where it builds);
- ``replay_cmd``: ``rmap-verify replay``, a trace in, state records out (``--c``: from the seed as C);
- ``diff_cmd``: ``rmap-verify diff``, a trace on the port and on the C, the first record that differs;
- ``oracle``: the C oracle (impl/c/) for the rest of the tool, and proofs/results/c-oracle.json;
- ``selfcheck``: obligations that answer each way on purpose, to test the runner;
- ``mutants``: ``rmap-verify mutants``, mutation testing of impl/;
- ``docgen``: ``rmap-verify docs``, docs/ generated from the code and results.
"""
