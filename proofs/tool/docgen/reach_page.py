"""docs/reachability.md: dead branches and call-site preconditions, per variant.

Read from the committed reports (the rows of the ``reachability`` and
``call-site preconditions`` obligations of proofs.z3.reach, in any
proofs/results/prove-*.json; the latest run of an obligation wins).
"""

from __future__ import annotations

from typing import Any

from proofs.tool.docgen.markdown import status_mark, table
from proofs.tool.docgen.results import ob_anchor
from proofs.tool.docgen.sources import Context
from proofs.z3.reach import CALL_SITES, REACH

INTRO = """# Reachability and call-site preconditions

Two kinds of z3 obligation check what the other obligations take for granted
(`proofs/z3/reach.py`, `proofs/z3/branches.py`).

**Reachability** (what Boogie and Dafny report as unreachable code and vacuous
assumptions). Every arm of every branch point in an entry's own code (its
function and the helpers it calls that are not an entry themselves: the
`if`/`else` arms, loop body and exit, match cases and "no case matches",
early returns) is either

- *reached*: z3 finds a model of (precondition ∧ path to the arm) in a world
  pinned to a chain of 0 to 3 entries, with the loops unrolled; the model is
  decoded into a trace that builds the state with the real callers, and the
  trace's replay on impl/, line by line under `sys.settrace`, must take the
  arm from a state that breaks no invariant. A witness is therefore always a
  whole run from the entry, never a loop-head state: a branch inside a loop
  is reached on whichever iteration the run takes it (page_remove_rmap's
  arms on the chain are replayed through zap, which clears the pte first, as
  the precondition says; try_to_unmap_one's through try_to_unmap). Or
- *dead*: the generator never takes it (the code's constants decide it:
  DEBUG_RMAP is off in the proofs, `ptep_to_mm` never answers NULL in the
  model, try_to_unmap_one never answers SWAP_ERROR, the fixed page_add_rmap
  frees a node it could not use with `pte_chain_free(node, NULL, None)`), or the path to it is
  unsatisfiable from the precondition with the loops cut by their invariants
  (`proofs/z3/loops.py`; their initiation and consecution are VCs of the
  entry's invariant-preservation obligation).

An arm neither reached nor proven dead fails the obligation, as does a
model whose trace does not take the arm (it is no witness).

**Call-site preconditions.** At every call a modelled caller makes of an rmap
function, the callee's precondition as its own obligations assume it holds
on the symbolic state at that point, but for `rep_locks_released`: each
entry's obligations are stated for a call with no lock held, and the locks
a caller holds around a call are the caller's (a lock the callee would take
while it is held is a deadlock, which the caller's own invariant
preservation refutes on the inlined path). With it, the seed's DEBUG_RMAP
checks: page_add_rmap's argument checks, lifted from their code
(`_debug_check_args`; its "not on the chain already" walk assumes what the
precondition's "ptep is not recorded yet" states), and page_remove_rmap's
"should NEVER happen" report, stated as "the pte is on a reverse-mapped
page". The callers guarantee them as 2.5.31's do (the seed's CONTEXT.md):

- map (the fault path and fork's `copy_page_range`): `set_pte` of a present
  mapping of the page into a pte that held none (`do_no_page`,
  `do_anonymous_page`) or a swap entry (`do_swap_page`, and swapoff's
  `unuse_pte`, which maps the swap-cache page the same way), so the pte maps
  the page and, being new, is not yet recorded; page_add_rmap runs with
  page_table_lock held.
- zap (`zap_pte_range`): `ptep_get_and_clear` before `page_remove_rmap`, so
  the pte no longer maps the page, and the entry it had is on the chain
  (the representation invariant records every pte that maps a normal page).
- reclaim (`shrink_cache`): the page is on the LRU (not reserved), has
  backing store, is locked by the caller (TryLockPage), with
  pagemap_lru_lock and pte_chain_lock held, and is mapped (the union
  non-NULL) when try_to_unmap is called.

Each failure answer of a kernel helper on the caller's paths is either
proven impossible from the caller's precondition or reached by a witness
whose replay sees the helper answer it at that call chain:
`kmem_cache_alloc`'s NULL under GFP_ATOMIC (the seed dereferences it:
[F3](findings/F3.md)), `find_vma`'s NULL (the seed checks it) and its vma
above the address (the seed takes it for the pte's vma:
[F5](findings/F5.md)), `swap_duplicate`'s 0 for an unused slot (the seed
ignores it; reclaim's precondition, the swap-cache page's own reference to
its slot, makes it impossible).
"""


def _rows(ctx: Context, prop: str) -> dict[str, list[dict[str, Any]]]:
    """variant -> the committed rows of the obligations with this property, latest run last."""
    runs = sorted(ctx.runs.values(), key=lambda r: str(r.get("timestamp", "")))
    latest: dict[str, dict[str, Any]] = {}
    for report in runs:
        for row in report.get("obligations", []):
            if row.get("property") == prop:
                latest[row["ident"]] = row
    out: dict[str, list[dict[str, Any]]] = {}
    for row in latest.values():
        out.setdefault(row["variant"], []).append(row)
    return out


def _link(ctx: Context, row: dict[str, Any]) -> str:
    ob = next((o for o in ctx.obligations or () if o.ident == row["ident"]), None)
    return row["name"] if ob is None else f"[{row['name']}](obligations.md#{ob_anchor(ob)})"


def reach_page(ctx: Context) -> str:
    out = [INTRO]
    reach, calls = _rows(ctx, REACH), _rows(ctx, CALL_SITES)
    if not reach and not calls:
        out.append("Not run yet: no committed report holds these obligations.\n")
        return "\n".join(out)
    for variant in sorted(set(reach) | set(calls)):
        out.append(f"## {variant}\n")
        rows = reach.get(variant, [])
        out.append(
            table(
                ["obligation", "result", "branches", "reached", "dead", "witnesses"],
                [
                    [
                        _link(ctx, r),
                        status_mark(r["status"]),
                        str(r["detail"].get("branches", "?")),
                        str(len(r["detail"].get("reached", {}))),
                        str(len(r["detail"].get("dead", []))),
                        str(len(r["detail"].get("witnesses", []))),
                    ]
                    for r in rows
                ],
            )
        )
        dead = [(r["function"], d) for r in rows for d in r["detail"].get("dead", [])]
        unreached = [(r["function"], d) for r in rows for d in r["detail"].get("unreached", [])]
        out.append(f"Dead branches on {variant} ({len(dead)}):\n")
        out.append(table(["entry", "branch", "why"], [[f, f"`{d['branch']}`", d["why"]] for f, d in dead]))
        if unreached:
            out.append(f"Neither reached nor proven dead on {variant}:\n")
            out.append(
                table(["entry", "branch", "why"], [[f, f"`{d['branch']}`", d["why"]] for f, d in unreached])
            )
        for r in calls.get(variant, []):
            out.append(f"### {r['function']}: call sites, {status_mark(r['status'])}\n")
            out.append(
                table(
                    ["call", "paths", "conjuncts", "result", "failing"],
                    [
                        [
                            f"`{c['call']}`",
                            str(c["paths"]),
                            str(c["goals"]),
                            status_mark(c["status"]),
                            ", ".join(c["failing"]) or "none",
                        ]
                        for c in r["detail"].get("calls", [])
                    ],
                )
            )
            helpers = r["detail"].get("helper answers", [])
            if helpers:
                out.append(
                    table(
                        ["helper answer", "at (innermost first)", "result"],
                        [
                            [_helper(h["answer"])[0], f"`{_helper(h['answer'])[1]}`", _answer(h)]
                            for h in helpers
                        ],
                    )
                )
    return "\n".join(out)


def _helper(text: str) -> tuple[str, str]:
    what, _, where = text.partition(" at ")
    return what, where


def _answer(row: dict[str, Any]) -> str:
    if row["status"] == "possible":
        return f"possible: witness {row['witness'] + 1} replays it"
    return "impossible (proved)" if row["status"] == "impossible" else f"**{row['status']}**"
