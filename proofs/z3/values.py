"""The values of the generated program: what a Python value of impl/ is in z3.

A value is a concrete Python value (an int, bool, None, a constant, a
module, a class, a function) while it is known, or one of these:

- a z3 term (Int, Bool, a 32-bit vector for flag words);
- ``Ptr``: a pointer into the pte / pte_chain space (an Int: 0 is NULL,
  > 0 a pte, < 0 a pte_chain node), what ``pte_t *`` and
  ``struct pte_chain *`` variables and the pte union hold;
- ``Ref``: a reference to a modelled object of another class (the page, an
  mm, a lock, a vma, the kernel, the slab, the rmap variant itself); never
  NULL;
- ``Record``: an immutable value object (``PteVal``, ``ReclaimResult``);
- ``Opt``: an Optional stored as an Int with a sentinel for None (a pte's
  swap entry: -1; a lock holder or page->mapping: 0, else an interned name);
- ``Opaque``: a string the code formats but no property reads (a message).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import z3

from impl.kernel import NULL
from proofs.z3.heap import intern


@dataclass(frozen=True)
class Ptr:
    term: Any


@dataclass(frozen=True)
class Ref:
    cls: type
    key: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"<{self.cls.__name__} {self.key}>"


@dataclass(frozen=True)
class Record:
    cls: type
    fields: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        for key, value in self.fields:
            if key == name:
                return value
        raise KeyError(name)

    def but(self, **changes: Any) -> Record:
        return Record(self.cls, tuple((k, changes.get(k, v)) for k, v in self.fields))


@dataclass(frozen=True)
class Opt:
    term: Any
    none: int


@dataclass(frozen=True)
class Opaque:
    what: str = "a string"


@dataclass(frozen=True)
class Bound:
    """A method found on a class (``owner`` defines it), bound to ``self``."""

    func: Any
    owner: type
    self_value: Any = field(compare=False)


@dataclass(frozen=True)
class EventLog:
    """The kernel's event log (``Kernel.events``, shared by every mm): what is
    appended to it goes on the path (``Path.events``), in order."""

    append_method: bool = False  # ``log.append``, the bound method


def conj(terms: Any) -> Any:
    """And of Bool terms, built with z3's C API: z3py's And coerces each
    argument, which dominates the generator's time on long path conditions."""
    return _nary(list(terms), z3.Z3_mk_and, True)


def disj(terms: Any) -> Any:
    """Or of Bool terms (see conj)."""
    return _nary(list(terms), z3.Z3_mk_or, False)


def _nary(terms: list[Any], make: Any, unit: bool) -> Any:
    terms = [z3.BoolVal(t) if isinstance(t, bool) else t for t in terms]
    if not terms:
        return z3.BoolVal(unit)
    if len(terms) == 1:
        return terms[0]
    ctx = terms[0].ctx
    args = (z3.Ast * len(terms))(*[t.as_ast() for t in terms])
    return z3.BoolRef(make(ctx.ref(), len(terms), args), ctx)


def lift(value: Any) -> Any:
    """The value a Python object read from impl/ stands for: NULL a pointer,
    an instance of a frozen dataclass (PTE_NONE) a Record."""
    if value is NULL:
        return Ptr(z3.IntVal(0))
    if (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and type(value).__dataclass_params__.frozen
    ):  # type: ignore[attr-defined]
        return Record(
            type(value), tuple((f.name, lift(getattr(value, f.name))) for f in dataclasses.fields(value))
        )
    return value


def term(value: Any) -> Any:
    """A z3 term for a concrete number or bool, a Ptr or Opt, or a term."""
    if isinstance(value, Ptr | Opt):
        return value.term
    if isinstance(value, bool):
        return z3.BoolVal(value)
    if isinstance(value, int):
        return z3.IntVal(value)
    if isinstance(value, str):
        return z3.IntVal(intern(value))
    if z3.is_expr(value):
        return value
    raise TypeError(f"no z3 term for {value!r}")


def concrete(value: Any) -> Any:
    """A concrete Python value for a term z3 simplifies to a constant, else the value."""
    if z3.is_expr(value):
        v = z3.simplify(value)
        if z3.is_true(v):
            return True
        if z3.is_false(v):
            return False
        if z3.is_int_value(v):
            return v.as_long()
    return value


def truth(value: Any) -> Any:
    """Python's truth of a value: a bool, or a z3 Bool term."""
    if isinstance(value, Ptr):
        return value.term != 0
    if isinstance(value, Opt):
        return value.term != value.none
    if isinstance(value, Ref | Record | Opaque | Bound):
        return True
    if z3.is_expr(value):
        if z3.is_bool(value):
            return value
        return value != 0
    return bool(value)


def is_none(value: Any) -> Any:
    if isinstance(value, Opt):
        return value.term == value.none
    return value is None


def same(a: Any, b: Any) -> Any:
    """``a is b``: pointers by address, modelled objects by identity."""
    if isinstance(a, Ptr) and isinstance(b, Ptr):
        return a.term == b.term
    if a is None or b is None:
        return is_none(b if a is None else a)
    if isinstance(a, Ref) and isinstance(b, Ref):
        if a.cls is not b.cls or len(a.key) != len(b.key):
            return False
        return z3.And(*[term(x) == term(y) for x, y in zip(a.key, b.key, strict=True)]) if a.key else True
    if isinstance(a, Ptr) or isinstance(b, Ptr):
        return False
    return equal(a, b)


def equal(a: Any, b: Any) -> Any:
    """``a == b``."""
    if isinstance(a, Record) and isinstance(b, Record):
        if a.cls is not b.cls:
            return False
        return z3.And(*[equal(x, b.get(k)) for k, x in a.fields])
    if (isinstance(a, Opt) and b is None) or (isinstance(b, Opt) and a is None):
        return is_none(a if b is None else b)
    if isinstance(a, Ptr | Opt) or isinstance(b, Ptr | Opt) or z3.is_expr(a) or z3.is_expr(b):
        if a is None or b is None or isinstance(a, Opaque) or isinstance(b, Opaque):
            return False
        return term(a) == term(b)
    return a == b


def ite(c: Any, a: Any, b: Any) -> Any:
    """The value that is ``a`` where ``c`` holds, else ``b``; TypeError when
    the two cannot be one value (None and a number, two different objects)."""
    if a is b or (not z3.is_expr(a) and not z3.is_expr(b) and type(a) is type(b) and a == b):
        return a
    if z3.is_expr(a) and z3.is_expr(b) and z3.eq(a, b):
        return a
    if isinstance(a, Ptr) and isinstance(b, Ptr):
        return Ptr(z3.If(c, a.term, b.term))
    if isinstance(a, Opt) and isinstance(b, Opt) and a.none == b.none:
        return Opt(z3.If(c, a.term, b.term), a.none)
    if isinstance(a, Record) and isinstance(b, Record) and a.cls is b.cls:
        return Record(a.cls, tuple((k, ite(c, v, b.get(k))) for k, v in a.fields))
    if isinstance(a, Ref) and isinstance(b, Ref) and a.cls is b.cls and len(a.key) == len(b.key):
        return Ref(a.cls, tuple(ite(c, x, y) for x, y in zip(a.key, b.key, strict=True)))
    if isinstance(a, str) or isinstance(b, str):  # interned names
        return z3.If(c, term(a), term(b))
    numeric = (int, bool)
    if (isinstance(a, numeric) or z3.is_expr(a)) and (isinstance(b, numeric) or z3.is_expr(b)):
        return z3.If(c, term(a), term(b))
    # No repr of the values: printing a large term costs far more than the merge saves.
    raise TypeError(f"cannot merge a {type(a).__name__} and a {type(b).__name__}")


def havoc(value: Any, name: str) -> Any:
    """A fresh value of the same kind as ``value`` (a loop's changed local)."""
    if isinstance(value, Ptr):
        return Ptr(z3.Int(name))
    if isinstance(value, Opt):
        return Opt(z3.Int(name), value.none)
    if isinstance(value, Record):
        return Record(value.cls, tuple((k, havoc(v, f"{name}.{k}")) for k, v in value.fields))
    if isinstance(value, bool) or (z3.is_expr(value) and z3.is_bool(value)):
        return z3.Bool(name)
    if isinstance(value, int) or (z3.is_expr(value) and z3.is_int(value)):
        return z3.Int(name)
    if z3.is_expr(value) and z3.is_bv(value):
        return z3.BitVec(name, value.size())
    raise TypeError(f"a loop changes {value!r}, which has no fresh symbolic form")


def changed(a: Any, b: Any) -> bool:
    """Whether two values of a local differ (syntactically)."""
    if z3.is_expr(a) and z3.is_expr(b):
        return not z3.eq(a, b)
    if type(a) is not type(b):
        return True
    if isinstance(a, Ptr | Opt):
        return not z3.eq(a.term, b.term)
    if isinstance(a, Record):
        return any(changed(v, b.get(k)) for k, v in a.fields)
    if isinstance(a, Ref):
        return any(changed(x, y) for x, y in zip(a.key, b.key, strict=True))
    return bool(a != b)
