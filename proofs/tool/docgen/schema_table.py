"""The trace format's tables, read off the schema (impl.trace_schema) itself.

Every key of every operation and world entry gets a row: its type with the
ranges the schema enforces, whether it is required (or its default), and
what it means; nothing here is typed by hand, so the page cannot drift
from what ``replay`` accepts.
"""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

from impl.trace_schema import OPS, PATH_ENTRIES, WORLD_ENTRIES, Entry, Op
from proofs.tool.docgen.markdown import table

_ENTRY_NAMES = {cls: where for where, cls in {**WORLD_ENTRIES, **PATH_ENTRIES}.items()}


def _bounds(t: mi.IntType) -> str:
    low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
    high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
    text = "int"
    if (low, high) == (-(2**63), 2**63 - 1):
        text += " (64-bit)"
    elif low is not None and high is not None:
        mask = high > 0xFFFF and (high + 1) & high == 0  # 2**k - 1 reads better in hex
        text += f" {low}..{high:#x}" if mask else f" {low}..{high}"
    elif low is not None:
        text += f" >= {low}"
    if t.multiple_of:
        text += f", a multiple of {t.multiple_of:#x}"
    return text


def type_text(t: Any) -> str:
    """A schema type as a reader wants it: `int 0..0xfffff`, `name`, `list of vmas[]`, ..."""
    if isinstance(t, mi.Metadata):
        return type_text(t.type)
    if isinstance(t, mi.IntType):
        return _bounds(t)
    if isinstance(t, mi.StrType):
        return "name" if t.min_length else 'string ("" allowed)'
    if isinstance(t, mi.BoolType):
        return "bool"
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.ListType):
        bound = f", at most {t.max_length}" if t.max_length else ""
        return f"list of {type_text(t.item_type)}{bound}"
    if isinstance(t, mi.DictType):
        return f"object: {type_text(t.key_type)} (as a string) -> {type_text(t.value_type)}"
    if isinstance(t, mi.StructType):
        return f"`{_ENTRY_NAMES.get(t.cls, t.cls.__name__)}` entry"
    if isinstance(t, mi.UnionType):
        return " or ".join(type_text(x) for x in t.types)
    if isinstance(t, mi.LiteralType):
        return " or ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in t.values)
    raise TypeError(f"the trace schema uses a type the docs cannot show: {t!r}")


def _description(t: Any) -> str:
    if isinstance(t, mi.Metadata) and t.extra_json_schema:
        return str(t.extra_json_schema.get("description", ""))
    if isinstance(t, mi.UnionType):
        return "; ".join(filter(None, (_description(x) for x in t.types)))
    return ""


def _presence(field: mi.Field) -> str:
    if field.required:
        return "required"
    if field.default_factory is not msgspec.NODEFAULT:
        return f"optional (default {msgspec.json.encode(field.default_factory()).decode()})"
    if field.default is msgspec.NODEFAULT:  # an UNSET default: the key only acts when given
        return "optional (acts only when given)"
    return f"optional (default {msgspec.json.encode(field.default).decode()})"


def field_rows(cls: type[Op] | type[Entry]) -> list[list[str]]:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return [[f"`{f.name}`", type_text(f.type), _presence(f), _description(f.type)] for f in info.fields]


def operations_section() -> str:
    """One table of the operations (level and meaning), then one table of keys per operation."""
    out = [
        table(
            ["op", "level", "keys", "what it does"],
            [
                [
                    f"[`{name}`](#op-{name})",
                    cls.level,
                    ", ".join(f"`{k}`" for k in cls.__struct_fields__),
                    doc(cls),
                ]
                for name, cls in OPS.items()
            ],
        ),
        "*raw*: runs as given, with no caller-side precondition (a misuse shows as a fault, a "
        "violation or a spec mismatch); *caller*: a caller's precondition is checked first, and when "
        "it does not hold the record's `precondition` says why and nothing changes; *schedule*: "
        "concurrent paths on the interleaving engine (see Schedules), where a step that cannot happen "
        "is a usage error.\n",
    ]
    for name, cls in OPS.items():
        out.append(f"### {name} {{#op-{name}}}\n")
        out.append(f"{doc(cls)} Level: *{cls.level}*.\n")
        out.append(
            table(
                ["key", "type", "presence", "meaning"],
                [["`op`", f'"{name}"', "required", ""], *field_rows(cls)],
            )
        )
    return "\n".join(out)


def world_entries_section(entries: dict[str, type[Entry]] = WORLD_ENTRIES) -> str:
    out = []
    for where, cls in entries.items():
        out.append(f"### {where} {{#entry-{where.replace('[]', '').replace('.', '-')}}}\n")
        out.append(f"{doc(cls)}\n")
        out.append(table(["key", "type", "presence", "meaning"], field_rows(cls)))
    return "\n".join(out)


def doc(cls: type) -> str:
    return " ".join((cls.__doc__ or "").split())
