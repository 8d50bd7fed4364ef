"""The implementations a user picks by name.

A variant is a Python class, a subclass of ``SeedRmap``, registered here
under a name; nothing else defines it.  Registered: ``seed`` (the faithful
port), ``fixed`` (every finding's fix) and ``2.5.32`` (the kernel's own
fix of try_to_unmap).  Any subset of the fixes is a variant too, spelled
``seed+F1+F3`` (the seed with those fixes) or ``fixed-F2`` (every fix but
those); ``register`` adds a class of one's own, such as a patch under test.
The deliberately wrong variants of ``impl.wrong_variants`` (such as
``again-after-fail``) are found by name too, but are not in ``VARIANTS``.
"""

from __future__ import annotations

import re

from impl.fixes import FIXES
from impl.kernel import Kernel
from impl.rmap_2532 import Linux2532Rmap
from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from impl.wrong_variants import WRONG_VARIANTS

VARIANTS: dict[str, type[SeedRmap]] = {"seed": SeedRmap, "fixed": FixedRmap, "2.5.32": Linux2532Rmap}
_COMPOSED = re.compile(r"^(seed|fixed)((?:[+-]F\d+)*)$")
_built: dict[frozenset[str], type[SeedRmap]] = {}


class UnknownVariant(ValueError):
    pass


def register(name: str, cls: type[SeedRmap]) -> None:
    """Make ``cls`` a variant called ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, SeedRmap)):
        raise UnknownVariant(f"variant {name!r} must be a subclass of SeedRmap")
    if name in VARIANTS and VARIANTS[name] is not cls:
        raise UnknownVariant(f"variant {name!r} is registered already")
    VARIANTS[name] = cls


def fixes_of(name: str) -> frozenset[str] | None:
    """The fixes a composed name (``seed+F1``, ``fixed-F2``) applies, or None."""
    m = _COMPOSED.match(name)
    if not m:
        return None
    fixes = set(FIXES) if m.group(1) == "fixed" else set()
    for sign, ident in re.findall(r"([+-])(F\d+)", m.group(2)):
        if ident not in FIXES:
            raise UnknownVariant(f"{name!r}: there is no finding {ident}; the fixes are {', '.join(FIXES)}")
        (fixes.add if sign == "+" else fixes.discard)(ident)
    return frozenset(fixes)


def with_fixes(fixes: frozenset[str]) -> type[SeedRmap]:
    """The seed with exactly ``fixes`` applied (all of them: ``fixed``)."""
    if fixes == frozenset(FIXES):
        return FixedRmap
    if not fixes:
        return SeedRmap
    if fixes not in _built:
        bases = tuple(FIXES[f] for f in FIXES if f in fixes)
        name = "seed+" + "+".join(f for f in FIXES if f in fixes)
        _built[fixes] = type(name, bases, {"name": name, "__module__": __name__})
    return _built[fixes]


def variant_name(fixes: frozenset[str]) -> str:
    """The canonical name of the seed with ``fixes``."""
    return with_fixes(fixes).name


def variant_class(name: str) -> type[SeedRmap]:
    if name in VARIANTS:
        return VARIANTS[name]
    if name in WRONG_VARIANTS:
        return WRONG_VARIANTS[name]
    fixes = fixes_of(name)
    if fixes is None:
        known = ", ".join(VARIANTS)
        raise UnknownVariant(f"unknown variant {name!r}; choose one of {known}, or seed+Fn..., fixed-Fn...")
    return with_fixes(fixes)


def make_rmap(name: str, k: Kernel, *, debug_rmap: bool = False) -> SeedRmap:
    """Bind variant ``name`` to kernel ``k`` and run its pte_chain_init."""
    rmap = variant_class(name)(k, debug_rmap=debug_rmap)
    rmap.pte_chain_init()
    return rmap
