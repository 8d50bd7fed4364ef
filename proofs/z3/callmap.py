"""Which functions an entry point's generated code may enter: a static call map of impl/ and spec/.

The VC generator (proofs.z3.lift) enters a function only through what the
code it executes spells out: a global name of that code's module (an import
followed to its definition), an attribute (``self.pte_chain_free``,
``k.spin_lock``, ``super().try_to_unmap``, ``kernel.BUG``) or the string of
a ``getattr``, starting from the entry point (proofs.z3.properties.ENTRIES).
It evaluates no annotation, runs no code to construct a class (frozen
dataclasses and NamedTuples become records; any other class call is
refused), and enters no function that has a model (proofs.z3.models) in its
place.  The map over-approximates that, with two kinds of node:

- a module-level name of a module (``impl.callers.map_pte``): its def's
  body, decorators and defaults, or its assignment's value, references
  names of that module and attributes;
- a class member by name (``try_to_unmap``): an attribute that is not read
  from a module may be any class's member of that name, so the node is
  every such member (method or class-level assignment) of every class.

A node all of whose definitions are modelled is not followed.  The scanned
files are impl/'s, spec/'s and those of the variant's classes.
tests/test_callmap.py checks, entry by entry, that what the generator
really enters is inside ``reachable``.  ``rmap-verify prove --affected-by``
uses it: a z3 obligation whose entry cannot reach a function generates the
same VCs whatever that function's body says.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import impl
import spec
from proofs.tool.paths import ROOT
from proofs.z3.models import MODELS
from proofs.z3.properties import ENTRIES

PACKAGES = (impl, spec)
Node = tuple[str, str]  # (module, name) of a module-level name; ("", name) for class members by name


@dataclass
class _Module:
    """One module: what its global names are bound to, and what each of its nodes references."""

    name: str
    is_package: bool
    bindings: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (module, attr)
    refs: dict[Node, set[tuple[str, ...]]] = field(
        default_factory=dict
    )  # raw: ("name", n) / ("attr", base, a)
    defs: dict[Node, set[str]] = field(default_factory=dict)  # node -> qualnames ("=" for an assignment)

    def define(self, node: Node, qualname: str, parts: list[ast.AST]) -> None:
        self.refs.setdefault(node, set()).update(_raw_refs(parts))
        self.defs.setdefault(node, set()).add(qualname)

    def scan(self, body: list[ast.stmt], cls: str | None = None) -> None:
        for stmt in body:
            match stmt:
                case ast.FunctionDef() | ast.AsyncFunctionDef():
                    parts: list[ast.AST] = [*stmt.body, *stmt.decorator_list, stmt.args]
                    self.define(self._node(stmt.name, cls), _qual(cls, stmt.name), parts)
                case ast.ClassDef():
                    self.define((self.name, stmt.name), "=", [])  # a class name leads to no code
                    self.scan(stmt.body, _qual(cls, stmt.name))
                case ast.Assign(targets=targets, value=value):
                    for name in _stored(targets):
                        self.define(self._node(name, cls), "=", [value])
                case ast.AnnAssign(target=target, value=value) if value is not None:
                    for name in _stored([target]):
                        self.define(self._node(name, cls), "=", [value])
                case ast.Import(names=aliases) if cls is None:
                    for alias in aliases:
                        bound = alias.asname or alias.name.split(".")[0]
                        self.bindings[bound] = (alias.name if alias.asname else bound, None)
                case ast.ImportFrom(module=module, names=aliases, level=level) if cls is None:
                    source = self._absolute(module, level)
                    for alias in aliases:
                        self.bindings[alias.asname or alias.name] = (source, alias.name)
                case ast.If() | ast.Try() | ast.With():
                    self.scan([s for s in ast.iter_child_nodes(stmt) if isinstance(s, ast.stmt)], cls)

    def _node(self, name: str, cls: str | None) -> Node:
        return ("", name) if cls is not None else (self.name, name)

    def _absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        base = self.name.split(".")
        base = base if self.is_package else base[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join([*base, *([module] if module else [])])


def _qual(cls: str | None, name: str) -> str:
    return f"{cls}.{name}" if cls else name


def _stored(targets: list[ast.expr]) -> list[str]:
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _raw_refs(parts: list[ast.AST]) -> set[tuple[str, ...]]:
    """Names, attributes (with the name they are read from, if any) and identifier strings; no annotations."""
    out: set[tuple[str, ...]] = set()
    stack = list(parts)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            out.add(("name", node.id))
        elif isinstance(node, ast.Attribute):
            out.add(("attr", _dotted(node.value), node.attr))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            out.add(("attr", "", node.value))  # getattr(obj, "name")
        for name, value in ast.iter_fields(node):
            if name not in ("annotation", "returns"):
                stack += [
                    c for c in (value if isinstance(value, list) else [value]) if isinstance(c, ast.AST)
                ]
    return out


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` as that string (a module may be read through it); "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _module_name(file: Path) -> str:
    parts = file.resolve().relative_to(ROOT.resolve()).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files(variant: type) -> dict[str, Path]:
    """module name -> file: impl/'s and spec/'s sources and the modules of the variant's classes."""
    files = {_module_name(f): f for p in PACKAGES for f in Path(p.__path__[0]).rglob("*.py")}
    for cls in variant.__mro__:
        source = inspect.getsourcefile(cls) if cls.__module__ != "builtins" else None
        if source is not None:
            files.setdefault(cls.__module__, Path(source))
    return files


@dataclass(frozen=True)
class CallMap:
    edges: dict[Node, frozenset[Node]]
    unentered: frozenset[Node]  # nodes whose every definition is a function with a model
    defs: dict[Node, frozenset[str]]


@cache
def call_map(variant: type) -> CallMap:
    modules: dict[str, _Module] = {}
    for name, file in _files(variant).items():
        module = _Module(name, file.name == "__init__.py")
        module.scan(ast.parse(file.read_text(), str(file)).body)
        modules[name] = module

    def resolve(module: _Module, name: str, depth: int = 0) -> Node | str | None:
        """A module-level name: its node, the module it names, or None (outside the scanned files)."""
        if (module.name, name) in module.defs:
            return (module.name, name)
        if name not in module.bindings or depth > 20:
            return None
        source, attr = module.bindings[name]
        if attr is None or f"{source}.{attr}" in modules:
            target = source if attr is None else f"{source}.{attr}"
            return target if target in modules else None
        return resolve(modules[source], attr, depth + 1) if source in modules else None

    edges: dict[Node, set[Node]] = {}
    defs: dict[Node, set[str]] = {}
    for module in modules.values():
        for node, raw in module.refs.items():
            out = edges.setdefault(node, set())
            defs.setdefault(node, set()).update(f"{module.name}:{q}" for q in module.defs[node])
            for ref in raw:
                if ref[0] == "name":
                    target = resolve(module, ref[1])
                    if isinstance(target, tuple):
                        out.add(target)
                    continue
                _, base, attr = ref
                head, *rest = base.split(".")
                named = resolve(module, head) if head else None
                for part in rest:
                    named = f"{named}.{part}" if isinstance(named, str) else None
                if isinstance(named, str) and named in modules:  # kernel.BUG: that module's name
                    hit = resolve(modules[named], attr)
                    out.update([hit] if isinstance(hit, tuple) else [])
                else:
                    out.add(("", attr))
    modelled = {f"{m.target.__module__}:{m.target.__qualname__}" for m in MODELS.values()}
    unentered = frozenset(n for n, where in defs.items() if where <= modelled)
    return CallMap(
        {n: frozenset(e) for n, e in edges.items()}, unentered, {n: frozenset(d) for n, d in defs.items()}
    )


def entry_node(entry: str) -> Node:
    e = ENTRIES[entry]
    if e.method is not None:
        return ("", e.method)
    assert e.caller is not None
    return (e.caller.__module__, e.caller.__name__)


@cache
def reachable(entry: str, variant: type) -> frozenset[Node]:
    """The nodes an entry point of proofs.z3.properties.ENTRIES may enter, its own included."""
    graph = call_map(variant)
    start = entry_node(entry)
    seen, todo = {start}, [start]
    while todo:
        for node in graph.edges.get(todo.pop(), ()):
            if node not in seen and node not in graph.unentered:
                seen.add(node)
                todo.append(node)
    return frozenset(seen)


def function_node(file: str, name: str, variant: type) -> Node | None:
    """The node of the function ``name`` defined in ``file`` (relative to the project), if there is one."""
    try:
        module = _module_name(ROOT / file)
    except ValueError:  # not a file of the project
        return None
    graph = call_map(variant)
    for node in ((module, name), ("", name)):
        if any(q.startswith(f"{module}:") and q != f"{module}:=" for q in graph.defs.get(node, ())):
            return node
    return None
