"""``python -m proofs.tool.oracle``: write proofs/results/c-oracle.json (proofs.tool.oracle.results)."""

import sys

from proofs.tool.oracle.results import main

sys.exit(main())
