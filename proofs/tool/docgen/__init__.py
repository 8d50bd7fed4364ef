"""Tooling: ``rmap-verify docs``, docs/ (and mkdocs.yml) generated from the code, page by page.

- ``sources``: what the pages read (registry, results files, seed facts, contracts);
- ``markdown``, ``results``: the building blocks every page shares;
- one module per generated page: ``invariants_page``, ``obligations_page``,
  ``seed_page``, ``findings_page``, ``traces_page``, ``cli_page``;
- the tables of the prose pages' figures: ``bench_tables``, ``mutation_tables``,
  ``c_oracle`` (docs/c-oracle.md), ``sample_output``;
- ``site``: the pages put together, mkdocs.yml, ``--check`` and the command.
"""
