"""Comparing a port record with a C record, field by field.

Every field must be equal, except what cannot be: a fault's ``where`` is
a line of rmap_seed.py on the port and a line of rmap.c on the C, and its
``why`` is the port's exception text or the C's signal.  So a fault
compares by its kind and its function (``where`` up to the first colon),
and a spec mismatch that quotes the fault quotes it in that form.  Where
the port names one of its own private helpers (the DEBUG_RMAP checks,
``_remove_out``, ...), the comparison names the seed function whose body
the helper is part of, as the C does.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from impl.kernel import Kernel
from impl.variants import make_rmap

FIELDS = (
    "op",
    "result",
    "precondition",
    "fault",
    "pages",
    "mms",
    "ptes",
    "swap",
    "nr_reverse_maps",
    "pte_chain_objects",
    "flushes",
    "violations",
    "spec_mismatch",
)


@functools.cache
def port_helpers() -> dict[str, str]:
    """Each private method of the port's seed variant -> the seed function
    (public method) whose body calls it, directly or through other helpers."""
    cls = type(make_rmap("seed", Kernel()))
    methods = {name: fn for name in dir(cls) if inspect.isfunction(fn := getattr(cls, name))}
    out: dict[str, str] = {}
    for public in sorted(n for n in methods if not n.startswith("_")):
        stack = [public]
        while stack:
            for callee in methods[stack.pop()].__code__.co_names:
                if callee.startswith("_") and callee in methods and callee not in out:
                    out[callee] = public
                    stack.append(callee)
    return out


def fault_function(where: str) -> str:
    function = where.split(":", 1)[0]
    return port_helpers().get(function, function)


def normalise(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as the comparison sees it."""
    out = {key: record.get(key) for key in FIELDS}
    fault = record.get("fault")
    if fault:
        short = f"{fault['kind']} in {fault_function(fault['where'])}"
        full = f"{fault['kind']} in {fault['where']}: {fault['why']}"
        out["fault"] = {"kind": fault["kind"], "function": fault_function(fault["where"])}
        out["spec_mismatch"] = [line.replace(full, short) for line in record.get("spec_mismatch") or []]
    return out


def differences(port: Mapping[str, Any], c: Mapping[str, Any]) -> list[str]:
    """One line per field that differs: ``field: port X, C Y`` (a list
    field lists its differing entries)."""
    a, b = normalise(port), normalise(c)
    out = []
    for key in FIELDS:
        if a[key] == b[key]:
            continue
        x, y = a[key], b[key]
        if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            out += [
                f"{key}[{i}]: port {u!r}, C {v!r}"
                for i, (u, v) in enumerate(zip(x, y, strict=True))
                if u != v
            ]
        else:
            out.append(f"{key}: port {x!r}, C {y!r}")
    return out
