"""The C oracle: the seed's own mm/rmap.c, compiled against a user-space
kernel shim and replayed from the same traces as the port (docs/c-oracle.md)."""
