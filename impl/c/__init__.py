"""The C oracle: the seed's own mm/rmap.c, compiled against a user-space
kernel shim and replayed from the same traces as the port (docs/c-oracle.md).

- ``build``: the seed found and compiled unmodified with the shim (shim.c,
  callers.c, protocol.c, include/), cached by content hash; a sanitizer build;
- ``native``: the library loaded in this process, or the sanitizer build's
  driver as a process, and what the sanitizers said;
- ``session``: ``CSession``, an ``impl.trace.Session`` that runs on the C;
- ``mirror``: the C's state read back into an ``impl.kernel.Kernel``;
- ``compare``: a port record against a C record, field by field.

The tooling around it (commands, results, docs) is ``proofs.tool.oracle``.
"""
