"""The implementations a user picks by name: the faithful port and its fix."""

from __future__ import annotations

from impl.kernel import Kernel
from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap

VARIANTS: dict[str, type[SeedRmap]] = {"seed": SeedRmap, "fixed": FixedRmap}


class UnknownVariant(ValueError):
    pass


def variant_class(name: str) -> type[SeedRmap]:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UnknownVariant(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


def make_rmap(name: str, k: Kernel, *, debug_rmap: bool = False) -> SeedRmap:
    """Bind variant ``name`` to kernel ``k`` and run its pte_chain_init."""
    rmap = variant_class(name)(k, debug_rmap=debug_rmap)
    rmap.pte_chain_init()
    return rmap
