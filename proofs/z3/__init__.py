"""The z3 engine: obligations proved by z3 over verification conditions.

The hand-written encoding of impl/ lives in ``proofs.z3.legacy`` until the
VC generator (which reads impl/ itself) replaces it; ``prover`` discharges
VCs for both.
"""
