"""z3 proof obligations of the rmap: encoding, transitions, invariants, runners."""
