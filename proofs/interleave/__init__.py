"""Engine: exhaustive interleavings of concurrent kernel paths over one small modelled kernel.

Each path (fault, zap, reclaim) is impl/'s own caller (``impl.callers``)
running unchanged in a thread of its own; the threads never run at the same
time.  Every lock *acquisition* (spin_lock, spin_trylock, pte_chain_lock) is
a scheduling point: the path stops just before it, and the explorer decides
which path moves next.  A step of a path is therefore everything it does
from one acquisition up to the next one (or to its end).  Why that
granularity loses no behaviour is argued in docs_src/locking.md (Lipton's
reduction: acquisitions move right, releases left, lock-protected accesses
both ways).

A blocking acquisition is only resumed when its lock is free (spin_lock
spins); a trylock always may run and may fail.  A state where some path is
unfinished and none can move is a deadlock.

- ``locks``: the kernel with acquisitions as scheduling points, and the
  seed's locking comments checked (``ConcurrentKernel``, ``observed``);
- ``world``: the starting kernels and the paths that run in them;
- ``execution``: one interleaving in progress, and its state fingerprint;
- ``schedule``: an interleaving as a trace (``paths``, then one ``step`` per
  choice) that ``rmap-verify replay`` re-runs step by step, and the session
  that runs it (the explorer's executions start from the same operations);
- ``explore``: breadth-first exploration of every schedule, deduplicated;
- ``obligations``: what is proven with it (deadlock freedom, the invariant
  at every lock-free state, SWAP_AGAIN is transient, a deadlock with a
  blocking lock), as ``OBLIGATIONS`` for ``proofs.registry``.
"""
