"""The expression half of the VC generator (``proofs.z3.lift.Executor``).

An expression evaluates, on a path, to a list of (path, value): one entry
unless the evaluation forks (``and``/``or`` whose right side changes the
state or can fault, a call with several returns, a dereference that can
oops, whose faulting half goes to the executor's faults).  Names resolve
as Python resolves them (locals, the function's module, a few builtins);
attributes through ``proofs.z3.layout``; calls inline impl/ code or apply
a model of ``proofs.z3.models``.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
from collections.abc import Callable
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any

import z3

from impl.rmap_seed import SeedRmap
from proofs.z3 import layout
from proofs.z3.values import (
    Bound,
    EventLog,
    Opaque,
    Opt,
    Ptr,
    Record,
    Ref,
    disj,
    equal,
    is_none,
    ite,
    lift,
    same,
    term,
    truth,
)

if TYPE_CHECKING:
    from proofs.z3.paths import Path, Site

Results = list[tuple["Path", Any]]
ALLOWED_BUILTINS = ("bool", "isinstance", "getattr", "setattr", "super")


@dataclasses.dataclass(frozen=True)
class _Super:
    """What ``super()`` answers inside a method: the rest of the MRO."""

    owner: type
    self_value: Any


class Expressions:
    """Mixed into Executor: evaluation of expressions, attribute access, calls."""

    variant: type
    stack: list[Any]

    # provided by Executor
    def unsupported(self, site: Site, what: str) -> Exception: ...
    def fault(self, path: Path, cond: Any, kind: str, why: str, site: Site) -> None: ...
    def call(self, func: FunctionType, owner: type | None, args: Any, kwargs: Any, path: Path) -> Results: ...
    def fork(self, path: Path, t: Any, site: Site, labels: tuple[str, str]) -> list[tuple[bool, Path]]: ...
    def snapshot(self) -> tuple[Any, ...]: ...
    def rewind(self, mark: tuple[Any, ...]) -> None: ...
    @property
    def frame(self) -> Any: ...

    # ------------------------------------------------------------ evaluation

    def eval(self, node: ast.expr, path: Path) -> Results:
        site = self.frame.site(node)
        match node:
            case ast.Constant(value=value):
                return [(path, value)]
            case ast.Name(id=name):
                return [(path, self.name(name, path, site))]
            case ast.Attribute(value=obj, attr=attr):
                return [r for p, o in self.eval(obj, path) for r in self.read(p, o, attr, site)]
            case ast.Call():
                return self.call_expr(node, path, site)
            case ast.BoolOp(op=op, values=values):
                return self.boolop(isinstance(op, ast.And), values, path, site)
            case ast.UnaryOp(op=op, operand=operand):
                return [(p, self.unary(op, v, site)) for p, v in self.eval(operand, path)]
            case ast.BinOp(left=left, op=op, right=right):
                return [
                    (q, self.binop(op, a, b, site))
                    for p, a in self.eval(left, path)
                    for q, b in self.eval(right, p)
                ]
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self.comparison(left, ops, comparators, path, site)
            case ast.IfExp(test=test, body=body, orelse=orelse):
                return self.choice(test, body, orelse, path, site)
            case ast.JoinedStr(values=parts):
                paths = [path]
                for part in parts:
                    if isinstance(part, ast.FormattedValue):  # evaluated for its faults; the text is opaque
                        paths = [p for q in paths for p, _ in self.eval(part.value, q)]
                return [(p, Opaque()) for p in paths]
            case ast.Subscript(value=container, slice=index):
                return [
                    r
                    for p, c in self.eval(container, path)
                    for q, i in self.eval(index, p)
                    for r in self.subscript(c, i, q, site)
                ]
            case ast.Tuple(elts=elts):
                out: Results = [(path, ())]
                for elt in elts:
                    out = [(q, (*acc, v)) for p, acc in out for q, v in self.eval(elt, p)]
                return out
        raise self.unsupported(site, f"the expression {type(node).__name__}")

    def name(self, name: str, path: Path, site: Site) -> Any:
        if name in path.locals:
            return path.locals[name]
        scope = self.frame.source.globals
        if name in scope:
            return lift(scope[name])
        if name in ALLOWED_BUILTINS:
            return getattr(builtins, name)
        raise self.unsupported(site, f"the name {name!r}")

    def read(self, path: Path, obj: Any, attr: str, site: Site) -> Results:
        if isinstance(obj, _Super):
            mro = type_of(obj.self_value).__mro__
            rest = mro[mro.index(obj.owner) + 1 :]
            return [(path, self.method(rest, attr, obj.self_value, site))]
        if isinstance(obj, Ref) and (
            obj.cls is self.variant or issubclass(obj.cls, SeedRmap) or _has_method(obj, attr)
        ):
            method = inspect.getattr_static(obj.cls, attr, None)
            if inspect.isfunction(method):
                return [(path, self.method(obj.cls.__mro__, attr, obj, site))]
        if isinstance(obj, EventLog) and attr == "append":
            return [(path, EventLog(append_method=True))]
        if isinstance(obj, ModuleType | type) or _plain(obj):
            try:
                return [(path, lift(getattr(obj, attr)))]
            except AttributeError:
                raise self.unsupported(site, f"{obj!r} has no attribute {attr}") from None
        return layout.read(self, path, obj, attr, site)  # type: ignore[arg-type]

    def method(self, mro: tuple[type, ...], name: str, self_value: Any, site: Site) -> Bound:
        for cls in mro:
            if name in vars(cls):
                func = vars(cls)[name]
                if isinstance(func, FunctionType):
                    return Bound(func, cls, self_value)
                raise self.unsupported(site, f"{cls.__name__}.{name} is not a plain method")
        raise self.unsupported(site, f"no method {name}")

    def write(self, path: Path, obj: Any, attr: str, value: Any, site: Site) -> list[Path]:
        return layout.write(self, path, obj, attr, value, site)  # type: ignore[arg-type]

    # ------------------------------------------------------------ operators

    def boolop(self, is_and: bool, values: list[ast.expr], path: Path, site: Site) -> Results:
        out: Results = []
        for p, v in self.eval(values[0], path):
            if len(values) == 1:
                out.append((p, v))
                continue
            t = truth(v)
            stop = z3.Not(t) if is_and and z3.is_expr(t) else (not t if is_and else t)
            out += self.lazy(p, stop, v, lambda q: self.boolop(is_and, values[1:], q, site), site)
        return out

    def choice(self, test: ast.expr, body: ast.expr, orelse: ast.expr, path: Path, site: Site) -> Results:
        out: Results = []
        for p, v in self.eval(test, path):
            t = truth(v)
            if not z3.is_expr(t):
                out += self.eval(body if t else orelse, p)
                continue
            a, b = self.eval(body, p.assume(t)), self.eval(orelse, p.assume(z3.Not(t)))
            merged = self.merge_pure(p, t, a, b)
            if merged is not None:
                out.append(merged)
            else:
                out += a + b
        return out

    def lazy(self, path: Path, stop: Any, value: Any, rest: Callable[[Path], Results], site: Site) -> Results:
        """``value`` where ``stop`` holds, else what ``rest`` evaluates to (a
        short-circuit): one merged value when ``rest`` is pure, else a fork."""
        if not z3.is_expr(stop):
            return [(path, value)] if stop else rest(path)
        simple = z3.simplify(stop)
        if z3.is_true(simple):
            return [(path, value)]
        if z3.is_false(simple):
            return rest(path)
        mark = self.snapshot()
        later = rest(path.assume(z3.Not(stop)))
        if self.snapshot() == mark:  # nothing faulted, dropped or branched
            merged = self.merge_pure(path, stop, [(path.assume(stop), value)], later)
            if merged is not None:
                return [merged]
        self.rewind(mark)
        out: Results = []
        for arm, taken in self.fork(path, stop, site, ("short", "long")):
            out += [(taken, value)] if arm else rest(taken)
        return out

    def merge_pure(self, path: Path, c: Any, a: Results, b: Results) -> tuple[Path, Any] | None:
        """One (path, value) for both arms of ``c`` when neither changed anything."""
        if len(a) != 1 or len(b) != 1:
            return None
        (pa, va), (pb, vb) = a[0], b[0]
        unchanged = all(
            q.heap is path.heap
            and q.locals is path.locals
            and q.events == path.events
            and q.fresh == path.fresh
            for q in (pa, pb)
        )
        if not unchanged:
            return None
        try:
            return path, ite(c, va, vb)
        except (TypeError, z3.Z3Exception):  # values of two kinds (Python's `a or b`): fork instead
            return None

    def unary(self, op: ast.unaryop, v: Any, site: Site) -> Any:
        if isinstance(op, ast.Not):
            t = truth(v)
            return z3.Not(t) if z3.is_expr(t) else not t
        if isinstance(op, ast.USub):
            return -v if not isinstance(v, Ptr | Opt) else -term(v)
        if isinstance(op, ast.Invert):
            return ~v
        raise self.unsupported(site, f"the operator {type(op).__name__}")

    def binop(self, op: ast.operator, a: Any, b: Any, site: Site) -> Any:
        ops: dict[type, Callable[[Any, Any], Any]] = {
            ast.Add: lambda x, y: x + y,
            ast.Sub: lambda x, y: x - y,
            ast.BitAnd: lambda x, y: x & y,
            ast.BitOr: lambda x, y: x | y,
            ast.RShift: lambda x, y: x >> y,
            ast.LShift: lambda x, y: x << y,
        }
        if type(op) not in ops:
            raise self.unsupported(site, f"the operator {type(op).__name__}")
        if isinstance(a, Ptr | Opt) or isinstance(b, Ptr | Opt):
            raise self.unsupported(site, "arithmetic on a pointer or an optional value")
        return ops[type(op)](a, b)

    def comparison(
        self, left: ast.expr, ops: list[ast.cmpop], rights: list[ast.expr], path: Path, site: Site
    ) -> Results:
        out: Results = []
        for p, a in self.eval(left, path):
            acc: Results = [(p, True)]
            prev = a
            for op, right in zip(ops, rights, strict=True):
                nxt: Results = []
                for q, sofar in acc:
                    for r, b in self.eval(right, q):
                        nxt.append((r, _and(sofar, self.compare(op, prev, b, site))))
                        prev = b
                acc = nxt
            out += acc
        return out

    def compare(self, op: ast.cmpop, a: Any, b: Any, site: Site) -> Any:
        if isinstance(op, ast.Is | ast.IsNot):
            r = same(a, b)
            return _not(r) if isinstance(op, ast.IsNot) else r
        if isinstance(op, ast.Eq | ast.NotEq):
            r = equal(a, b)
            return _not(r) if isinstance(op, ast.NotEq) else r
        order: dict[type, Callable[[Any, Any], Any]] = {
            ast.Lt: lambda x, y: x < y,
            ast.LtE: lambda x, y: x <= y,
            ast.Gt: lambda x, y: x > y,
            ast.GtE: lambda x, y: x >= y,
        }
        if isinstance(op, ast.In | ast.NotIn) and isinstance(b, tuple):
            r = disj([equal(a, x) for x in b]) if z3.is_expr(term(a)) else a in b
            return _not(r) if isinstance(op, ast.NotIn) else r
        if type(op) in order and not any(
            isinstance(x, Ptr | Opt | Ref | Record) or x is None for x in (a, b)
        ):
            return order[type(op)](a, b)
        raise self.unsupported(site, f"the comparison {type(op).__name__} of {a!r} and {b!r}")

    def subscript(self, container: Any, index: Any, path: Path, site: Site) -> Results:
        if not isinstance(container, dict):
            raise self.unsupported(site, f"subscript of {type(container).__name__}")
        if not z3.is_expr(index):
            return [(path, lift(container[index]))]
        keys = list(container)
        known = z3.Or(*[index == k for k in keys])
        self.fault(path, z3.Not(known), "KeyError", "a key the dict does not hold", site)
        value = lift(container[keys[-1]])
        for k in reversed(keys[:-1]):
            value = ite(index == k, lift(container[k]), value)
        return [(path.assume(known), value)]

    # ------------------------------------------------------------ calls

    def call_expr(self, node: ast.Call, path: Path, site: Site) -> Results:
        out: Results = []
        for p, func in self.eval(node.func, path):
            if func is builtins.super and not node.args:
                frame = self.frame
                out.append((p, _Super(frame.owner, p.locals[next(iter(p.locals))])))
                continue
            argsets: list[tuple[Path, tuple[Any, ...], dict[str, Any]]] = [(p, (), {})]
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    raise self.unsupported(site, "a starred argument")
                argsets = [(r, (*a, v), k) for q, a, k in argsets for r, v in self.eval(arg, q)]
            for kw in node.keywords:
                if kw.arg is None:
                    raise self.unsupported(site, "**kwargs")
                argsets = [(r, a, {**k, kw.arg: v}) for q, a, k in argsets for r, v in self.eval(kw.value, q)]
            for q, args, kwargs in argsets:
                out += self.apply(func, args, kwargs, q, site)
        return out

    def apply(
        self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], path: Path, site: Site
    ) -> Results:
        from proofs.z3.models import MODELS

        target = func.func if isinstance(func, Bound) else func
        if isinstance(func, Bound):
            args = (func.self_value, *args)
        model = MODELS.get(target) if _hashable(target) else None
        if model is not None:
            return model.run(self, path, args, kwargs, site)
        if isinstance(func, EventLog) and func.append_method:
            return [(path.event(args[0]), None)]
        if isinstance(target, type) and issubclass(target, tuple) and hasattr(target, "_fields"):
            return [(path, construct_tuple(target, args, kwargs))]  # a NamedTuple: impl.kernel.Event
        if target in (builtins.bool,):
            return [(path, truth(args[0]))]
        if target is builtins.isinstance:
            return [(path, isinstance_of(args[0], args[1]))]
        if target is builtins.getattr and len(args) == 2 and isinstance(args[1], str):
            return self.read(path, args[0], args[1], site)
        if target is builtins.setattr and len(args) == 3 and isinstance(args[1], str):
            return [(q, None) for q in self.write(path, args[0], args[1], args[2], site)]
        if target is dataclasses.replace and isinstance(args[0], Record):
            return [(path, args[0].but(**kwargs))]
        if (
            isinstance(target, type)
            and dataclasses.is_dataclass(target)
            and target.__dataclass_params__.frozen
        ):  # type: ignore[attr-defined]
            return [(path, construct(target, args, kwargs))]
        if isinstance(target, FunctionType):
            # impl/'s and spec/'s code, and a variant's own methods wherever
            # the variant is written (a patch under test lives in its own module).
            if not (target.__module__.startswith(("impl.", "spec.")) or _variant_method(func)):
                raise self.unsupported(
                    site, f"a call of {target.__module__}.{target.__qualname__} (no model)"
                )
            owner = func.owner if isinstance(func, Bound) else None
            return self.call(target, owner, args, kwargs, path)
        raise self.unsupported(site, f"a call of {target!r}")


def _variant_method(func: Any) -> bool:
    from impl.rmap_seed import SeedRmap

    return isinstance(func, Bound) and issubclass(func.owner, SeedRmap)


def construct_tuple(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Record:
    """A NamedTuple instance as a Record (defaults filled in)."""
    values = {**cls._field_defaults, **dict(zip(cls._fields, args, strict=False)), **kwargs}
    return Record(cls, tuple((name, lift(values[name])) for name in cls._fields))


def construct(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Record:
    """A frozen dataclass instance as a Record (defaults filled in)."""
    fields = dataclasses.fields(cls)
    values: dict[str, Any] = {}
    for f, v in zip(fields, args, strict=False):
        values[f.name] = v
    values.update(kwargs)
    for f in fields:
        if f.name not in values:
            values[f.name] = lift(f.default)
    return Record(cls, tuple((f.name, values[f.name]) for f in fields))


def isinstance_of(value: Any, cls: Any) -> Any:
    from impl.kernel import Pte, PteChain

    classes = cls if isinstance(cls, tuple) else (cls,)
    answers = []
    for c in classes:
        if isinstance(value, Ptr):
            answers.append(value.term > 0 if c is Pte else value.term < 0 if c is PteChain else False)
        elif isinstance(value, Ref | Record):
            answers.append(issubclass(value.cls, c))
        elif isinstance(value, Opt):
            answers.append(_not(is_none(value)) if c in (int, str) else False)
        else:
            answers.append(isinstance(value, c))
    return z3.Or(*[term(a) for a in answers]) if any(z3.is_expr(a) for a in answers) else any(answers)


def type_of(value: Any) -> type:
    return value.cls if isinstance(value, Ref) else type(value)


def _has_method(obj: Ref, attr: str) -> bool:
    return inspect.isfunction(inspect.getattr_static(obj.cls, attr, None))


def _plain(obj: Any) -> bool:
    """A concrete Python object whose attributes are read as they are."""
    return not isinstance(obj, Ptr | Ref | Record | Opt | Opaque | Bound) and not z3.is_expr(obj)


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def _and(a: Any, b: Any) -> Any:
    if a is True:
        return b
    if b is True:
        return a
    if a is False or b is False:
        return False
    return z3.And(term(a), term(b))


def _not(a: Any) -> Any:
    return z3.Not(a) if z3.is_expr(a) else not a
