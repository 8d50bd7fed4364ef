"""Checking one concrete step against the spec: does α(post) follow?

``Step`` captures what the spec needs *before* a concrete operation runs
(α of the state, the environment's choices); ``Step.check`` then compares
the spec's allowed outcomes with what the implementation did and lists the
differences field by field, spec beside α(impl).  The trace runner, the
stateful test and the contracts all use this one check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from impl.abstraction import Unabstractable, abstraction, env_alloc_fails, env_unmap_outcomes
from impl.kernel import SWAP_NAMES, Kernel, PageLocked
from spec import ops
from spec.state import AbsState

# Trace operations with a spec counterpart.
SPEC_OPS = ("map", "zap", "referenced", "reclaim", "page_add_rmap", "page_remove_rmap", "try_to_unmap")


def diff_states(spec: AbsState, impl: AbsState) -> list[str]:
    """Every field on which two abstract states differ: spec beside α(impl)."""
    out = []
    for f in fields(AbsState):
        a, b = getattr(spec, f.name), getattr(impl, f.name)
        if a == b:
            continue
        if not hasattr(a, "pairs"):
            out.append(f"{f.name}: spec {a!r}, impl {b!r}")
            continue
        da, db = dict(a.pairs), dict(b.pairs)
        for key in sorted(set(da) | set(db), key=str):
            if da.get(key) != db.get(key):
                out.append(f"{f.name}[{key}]: spec {_show(da.get(key))}, impl {_show(db.get(key))}")
    return out


def _show(value: object) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(map(str, value))) + "}"
    return repr(value)


def _caller_holds(k: Kernel, op: str, args: Mapping[str, Any]) -> bool:
    """What try_to_unmap's caller must guarantee and α cannot see: the page
    is locked and has backing store (else the seed BUGs, as it should)."""
    if op != "try_to_unmap" or args["pfn"] not in k.mem_map:
        return True
    page = k.mem_map[args["pfn"]]
    return PageLocked(page) and page.mapping is not None


@dataclass(frozen=True)
class Step:
    """The spec's view of one operation, taken before it runs."""

    op: str
    args: Mapping[str, Any]
    pre: AbsState | None
    alloc_fails: bool
    outcomes: Mapping[str, int]
    caller_holds: bool = True

    @staticmethod
    def before(k: Kernel, op: str, args: Mapping[str, Any]) -> Step | None:
        if op not in SPEC_OPS:
            return None
        try:
            pre = abstraction(k)
        except Unabstractable:
            pre = None
        # the page a new reverse-map entry goes to decides how many nodes it takes
        adds_to = k.mem_map.get(args["pfn"]) if op in ("map", "page_add_rmap") else None
        return Step(
            op,
            dict(args),
            pre,
            env_alloc_fails(k, adds_to),
            env_unmap_outcomes(k),
            _caller_holds(k, op, args),
        )

    def precondition(self) -> bool:
        """Whether the spec operation's precondition holds of α(pre), and
        the concrete caller's duties (for a raw try_to_unmap: the page is
        locked and has backing store) were met."""
        s, a = self.pre, self.args
        if s is None or not self.caller_holds:
            return False
        match self.op:
            case "map":
                return ops.pre_map(s, a["pte"], a["pfn"])
            case "zap":
                return ops.pre_zap(s, a["pte"])
            case "page_add_rmap":
                return ops.pre_rmap_add(s, a["pfn"], a["pte"])
            case "try_to_unmap" | "reclaim":
                return ops.pre_unmap(s, a["pfn"])
            case _:
                return a["pfn"] in s.pages

    def allowed(self) -> list[tuple[Any, AbsState]]:
        """Every (result, state) the spec allows from α(pre)."""
        s, a = self.pre, self.args
        assert s is not None
        match self.op:
            case "map":
                return [ops.map_pte(s, a["pte"], a["pfn"], self.alloc_fails, a.get("dirty", False))]
            case "zap":
                return [(None, ops.zap_pte(s, a["pte"]))]
            case "referenced":
                return [ops.referenced(s, a["pfn"])]
            case "page_add_rmap":
                tag, after = ops.rmap_add(s, a["pfn"], a["pte"], self.alloc_fails)
                return [(None if tag != "nomem" else -12, after)]
            case "page_remove_rmap":
                return [(None, ops.rmap_remove(s, a["pfn"], a["pte"]))]
            case "try_to_unmap":
                return [(SWAP_NAMES[r], after) for r, after in ops.unmap_steps(s, a["pfn"], self.outcomes)]
            case "reclaim":
                return [
                    (
                        {
                            "disposition": disp,
                            "try_to_unmap": None if r is None else SWAP_NAMES[r],
                        },
                        after,
                    )
                    for disp, r, after in sorted(ops.reclaim(s, a["pfn"], self.outcomes), key=repr)
                ]
        raise AssertionError(self.op)

    def check(self, k: Kernel, result: Any, fault: str | None) -> list[str]:
        """Differences between what the spec allows and what impl did.

        Empty when the step refines the spec, or when the spec's
        precondition does not hold (then the spec promises nothing).
        """
        if not self.precondition():
            return []
        if fault is not None:
            return [f"impl stopped with {fault} where the spec takes a step"]
        try:
            post = abstraction(k)
        except Unabstractable as why:
            return [f"impl state has no abstraction: {why}"]
        if self._allows(result, post):
            return []
        allowed = self.allowed()
        for want_result, want in allowed:
            if want == post and result_matches(want_result, result):
                return []
        want_result, want = allowed[0]
        out = diff_states(want, post)
        if not result_matches(want_result, result):
            allowed_results = sorted({repr(r) for r, _ in allowed})
            out.insert(0, f"result: spec {' or '.join(allowed_results)}, impl {result!r}")
        return out

    def _allows(self, result: Any, post: AbsState) -> bool:
        """A raw try_to_unmap is judged by its predicate, ``spec.ops.unmap_allows``,
        without enumerating; every other operation by ``allowed``."""
        if self.op != "try_to_unmap" or self.pre is None:
            return False
        answer = next((r for r, name in SWAP_NAMES.items() if name == result), None)
        return answer is not None and ops.unmap_allows(
            self.pre, self.args["pfn"], self.outcomes, answer, post
        )


def result_matches(want: Any, got: Any) -> bool:
    """Equal results; for reclaim, the fields the spec decides agree."""
    if isinstance(want, dict) and isinstance(got, dict):
        return all(got.get(key) == value for key, value in want.items())
    return bool(want == got)
