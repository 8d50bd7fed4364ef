"""Every proof obligation, in one list: the runner, pytest and docs/ read it.

The z3 obligations (every rmap function and caller path of every
registered variant, their VCs generated from impl/'s Python) come from
``proofs.z3``, their reachability and call-site obligations from
``proofs.z3.reach``, the interleaving and deadlock obligations from
``proofs.interleave``, the bounded exhaustive check of try_to_unmap's
chain surgery from ``proofs.exhaustive``, realizability (spec refines impl
in full) from ``proofs.realizability``, each finding's leave-one-out
check (variant ``fixed-Fn``) from ``proofs.leave_one_out``.  Idents (``name [variant]``) are unique.
"""

from __future__ import annotations

from proofs.exhaustive import OBLIGATIONS as EXHAUSTIVE_OBLIGATIONS
from proofs.interleave.obligations import OBLIGATIONS as CONCURRENCY_OBLIGATIONS
from proofs.leave_one_out import OBLIGATIONS as LEAVE_ONE_OUT_OBLIGATIONS
from proofs.obligation import Obligation
from proofs.realizability import OBLIGATIONS as REALIZABILITY_OBLIGATIONS
from proofs.z3 import OBLIGATIONS as Z3_OBLIGATIONS
from proofs.z3.reach import OBLIGATIONS as REACH_OBLIGATIONS

OBLIGATIONS: list[Obligation] = [
    *Z3_OBLIGATIONS,
    *REACH_OBLIGATIONS,
    *EXHAUSTIVE_OBLIGATIONS,
    *REALIZABILITY_OBLIGATIONS,
    *CONCURRENCY_OBLIGATIONS,
    *LEAVE_ONE_OUT_OBLIGATIONS,
]
