"""Reachability and call-site preconditions, from the code the generator lifts.

Reachability (what Boogie and Dafny report as unreachable code): every arm
of every branch point of an entry's own code (proofs.z3.branches.arms_of:
the entry function and the helpers only it calls; another entry's code is
that entry's) is either

- reached: a z3 model of (precondition ∧ path to the arm) in a pinned small
  world (chains of 0 to 3 entries, proofs.z3.pins; loops unrolled, so the
  witness is a whole run from the entry, never a loop-head state), decoded
  into a trace (proofs.z3.decode) whose replay on impl/, line by line under
  ``sys.settrace``, takes the arm from a state that breaks no invariant; one
  replayed trace witnesses every arm it takes; or
- dead: never taken when lifted (the code's constants decide it: DEBUG_RMAP
  is off), or the path to it unsatisfiable from the precondition with the
  loops cut by their invariants (proofs.z3.loops; each loop's initiation and
  consecution are the entry's invariant-preservation obligation's VCs).

An arm neither reached nor proven dead fails the obligation (``unknown``).

Call-site preconditions: at every call a modelled caller (map, zap, reclaim)
makes of an rmap function, the callee's precondition as its own obligations
assume it (proofs.z3.properties, the spec's ``pre_*`` and the representation
invariant) holds on the state at the call, as do the seed's DEBUG_RMAP
checks; and every failure answer of a kernel helper on the caller's paths
(proofs.z3.branches.FAILURES) is either proven impossible from the caller's
precondition or reached by a replaying witness, and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

from impl.variants import VARIANTS, variant_class
from proofs.obligation import Obligation, Outcome
from proofs.z3 import invariants as inv
from proofs.z3.branches import Observed, Recorder, arms_of, chain_text, observe
from proofs.z3.decode import decode
from proofs.z3.ghosts import POSTS
from proofs.z3.heap import Heap, fresh_heap
from proofs.z3.invariants import normal, recorded
from proofs.z3.lift import Config
from proofs.z3.loops import LOOPS
from proofs.z3.paths import Path, Unsupported, common_prefix
from proofs.z3.properties import ENTRIES, Args, Entry
from proofs.z3.prover import VC, check_incremental, check_vc, configure
from proofs.z3.search import _model, pinned_world, plain
from proofs.z3.values import conj, disj, term
from proofs.z3.vcs import ENTRY_FUNCTIONS, entry_args, function_of, run_entry

REACH, CALL_SITES = "reachability", "call-site preconditions"
CALLERS = ("map", "zap", "reclaim")
CALL_QUERY = 5.0  # seconds for one call site's precondition
QUICK = 0.3  # seconds for a first unreachability check, before larger worlds are built
RLIMIT, QUICK_RLIMIT = 3_000_000, 600_000  # z3 resource counts: about a second, a fifth of one
QUERY = 4.0  # seconds for one model in the pinned world, or one unreachability proof (room for load)
METHOD = (
    "z3: witnesses in pinned small worlds replayed line by line; dead arms unsat with the loop invariants"
)
CALL_METHOD = "z3 unbounded at each call site; helper failures unsat, or a witness replayed on impl/"
LOCKS = "rep_locks_released"
# The seed's DEBUG_RMAP checks a caller must satisfy, lifted from their code
# (the not-mapped check's walk with its loop invariant, proofs.z3.loops).
DEBUG_CHECKS = {"page_add_rmap": ("_debug_check_args", "_debug_check_not_mapped")}
NOT_FOUND = 'DEBUG_RMAP [rmap.c:178]: the pte is on a reverse-mapped page (the "should NEVER happen" report)'


STATEMENTS = {
    REACH: "Every arm of every branch point in {f}'s own code (if/else, loop body and exit, match cases, "
    "early returns) is reached from a state satisfying the representation invariant and {f}'s "
    "precondition, by a witness whose replay on impl/ takes it, or is dead: never taken when lifted, "
    "or unsatisfiable from the precondition (loops cut by their invariants). Dead arms are listed.",
    CALL_SITES: "At every call {f} makes of an rmap function, the callee's precondition (its obligations' "
    "precondition, the representation invariant but for the locks the caller holds) and the seed's "
    "DEBUG_RMAP checks hold; every failure answer of a kernel helper on {f}'s paths (find_vma NULL or "
    "above the address, kmem_cache_alloc NULL, swap_duplicate 0) is proven impossible or reported with "
    "a replaying witness.",
}


def obligations(variants: tuple[str, ...] | None = None) -> list[Obligation]:
    out = []
    for variant in variants or tuple(VARIANTS):
        for name in ENTRIES:
            out.append(_obligation(f"{name} reachability", name, REACH, variant, METHOD))
        for name in CALLERS:
            out.append(_obligation(f"{name} call-site preconditions", name, CALL_SITES, variant, CALL_METHOD))
    return out


def _obligation(name: str, function: str, prop: str, variant: str, method: str) -> Obligation:
    statement = STATEMENTS[prop].format(f=function)
    return Obligation(name, function, prop, variant, statement, (), method, "proofs.z3.reach:prove")


def prove(obligation: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    cls = variant_class(obligation.variant)
    run = reachability if obligation.prop == REACH else call_sites
    try:
        status, detail = run(obligation.function, cls, obligation.variant, timeout)
    except Unsupported as why:
        return Outcome("error", time.perf_counter() - start, {"error": str(why)})
    return Outcome(status, time.perf_counter() - start, {"method": obligation.method, **detail})  # type: ignore[arg-type]


# ---------------------------------------------------------------- runs


@dataclass
class Run:
    """An entry lifted from a precondition: its recorder, pre-state and hypotheses."""

    ex: Recorder
    h: Heap
    args: Args
    hyps: list[Any]
    n: int = -1  # the pinned chain length; -1: unbounded (proof mode)


def proof_run(entry: Entry, cls: type) -> Run:
    """The entry lifted from its precondition, recording its arms and calls.
    (In the obligation's own process, not shared with the z3 obligations'
    lifted run: shared through the worker, z3 missed witnesses it finds
    otherwise, see proofs/results/prove-reach.json.)"""
    h0, args = fresh_heap("s"), entry_args(entry)
    pre = [*inv.world_facts(h0), *[t for _, t in entry.pre(h0, args)]]
    ex = Recorder(cls, Config("proof", LOOPS, POSTS), ENTRY_FUNCTIONS)
    run_entry(ex, entry, cls, args, Path(tuple(pre), h0))
    return Run(ex, h0, args, [*pre, *ex.sums.axioms])


def pinned_run(entry: Entry, cls: type, n: int) -> Run:
    """The entry on a world pinned to a chain of n: the pinned fields are
    substituted into the state, so the generator decides the chain's
    branches itself and only the environment's choices fork."""
    args = entry_args(entry)
    extra = entry.name not in ("page_add_rmap", "map")  # their argument is pte n+1, which they map
    h, rest = pinned_world(fresh_heap(f"w{n}"), n, entry, args, extra)
    pre = [*inv.world_facts(h), *[t for _, t in entry.pre(h, args)], *rest]
    ex = Recorder(cls, Config("bounded", unroll=n + 2), ENTRY_FUNCTIONS)
    run_entry(ex, entry, cls, args, Path(tuple(pre), h))
    return Run(ex, h, args, [*pre, *ex.sums.pins(n)], n)


def reaching(conds: list[tuple[Any, ...]]) -> list[Any]:
    """Hypotheses: one of the paths (their shared prefix factored out)."""
    shared = common_prefix(conds)
    return [*conds[0][:shared], disj(conj(c[shared:]) for c in conds)]


def chains(entry: Entry) -> tuple[int, ...]:
    # try_to_unmap_one is replayed through try_to_unmap (proofs.z3.decode): one direct entry
    return (1,) if entry.name == "try_to_unmap_one" else (0, 1, 2, 3)


@dataclass(frozen=True)
class Target:
    """Something to witness: the paths of a run that reach it, and whether a replay shows it."""

    text: str
    conds: Callable[[Run], list[tuple[Any, ...]]]
    seen: Callable[[Observed], bool]


def witnesses(
    entry: Entry,
    cls: type,
    variant: str,
    targets: list[Target],
    files: frozenset[str],
    deadline: float,
    settle: Callable[[list[str]], set[str]] = lambda pending: set(),
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """target text -> index of its witness; the witnesses (chain, trace, what each covers).
    After the first chain size, ``settle`` may decide some of the targets
    still pending otherwise (proven impossible): larger worlds are built
    only for what is left."""
    found: dict[str, int] = {}
    found_list: list[dict[str, Any]] = []
    settled: set[str] = set()
    for i, n in enumerate(chains(entry)):
        if i == 1:
            settled = settle([t.text for t in targets if t.text not in found])
        if len(found) + len(settled) >= len(targets) or time.perf_counter() > deadline:
            break
        run = pinned_run(entry, cls, n)
        for target in targets:
            left = deadline - time.perf_counter()
            if target.text in found or target.text in settled or left <= 0:
                continue
            conds = target.conds(run)
            if not conds:
                continue
            model = _model([*run.hyps, *reaching(conds)], plain(run.h, n), min(left, QUERY))
            if model is None:
                continue
            trace = decode(model, run.h, n, entry.name, run.args)["trace"]
            seen = observe(trace, variant, files)
            if seen is None:
                continue
            covers = [t.text for t in targets if t.text not in found and t.seen(seen)]
            for text in covers:
                found[text] = len(found_list)
            if covers:
                found_list.append({"chain": n, "covers": covers, "trace": trace})
    return found, found_list


def unreachable(run: Run, conds: list[tuple[Any, ...]], name: str, quick: bool = False) -> str:
    """proved (no path to it is possible), or z3's other answer.  Bounded by
    z3's resource count too: its timeout alone does not always stop a
    quantified query."""
    vc = VC(name, [*run.hyps, *reaching(conds)], [("unreachable", z3.BoolVal(False))])
    return check_vc(vc, QUICK if quick else 2 * QUERY, QUICK_RLIMIT if quick else RLIMIT).status


# ---------------------------------------------------------------- reachability


def _start(name: str, cls: type, timeout: float) -> tuple[Entry, float, str, Run]:
    """What both checks start from: the entry, its deadline, its function and its lifted run."""
    configure()
    entry = ENTRIES[name]
    deadline = time.perf_counter() + timeout
    return entry, deadline, function_of(entry), proof_run(entry, cls)


def reachability(name: str, cls: type, variant: str, timeout: float) -> tuple[str, dict[str, Any]]:
    entry, deadline, mine, proof = _start(name, cls, timeout)
    funcs = sorted(
        proof.ex.own.get(mine, ()), key=lambda f: (f.__code__.co_filename, f.__code__.co_firstlineno)
    )
    arms = [a for f in funcs for a in arms_of(f)]
    files = frozenset(a.file for a in arms)

    def paths(run: Run, key: tuple[str, str]) -> list[tuple[Any, ...]]:
        return [t.path.cond for t in run.ex.taken if t.key == key and t.owner == mine]

    targets = [Target(str(a), lambda r, k=a.key: paths(r, k), lambda s, a=a: s.takes(a)) for a in arms]
    status: dict[str, str] = {}  # arm -> its unreachability check's answer

    def settle(pending: list[str]) -> set[str]:
        for arm in (a for a in arms if str(a) in pending):
            conds = paths(proof, arm.key)
            status[str(arm)] = unreachable(proof, conds, str(arm), quick=True) if conds else "lifted"
        return {text for text, answer in status.items() if answer in ("proved", "lifted")}

    found, found_list = witnesses(entry, cls, variant, targets, files, deadline, settle)
    dead, unreached = [], []
    for arm in arms:
        text, conds = str(arm), paths(proof, arm.key)
        if text in found:
            continue
        if not conds:
            dead.append({"branch": text, "why": "never taken when lifted: the code's constants decide it"})
            continue
        if status.get(text) != "proved":
            status[text] = unreachable(proof, conds, text)
        if status[text] == "proved":
            dead.append(
                {"branch": text, "why": "unsat from the precondition (loops cut by their invariants)"}
            )
        else:
            sizes = f"{chains(entry)[0]}..{chains(entry)[-1]}"
            why = f"no witness replays on chains of {sizes}, and unreachability is {status[text]}"
            unreached.append({"branch": text, "why": why})
    detail = {
        "branches": len(arms),
        "reached": {text: i for text, i in found.items()},
        "dead": dead,
        "unreached": unreached,
        "witnesses": found_list,
        "functions": [f.__qualname__ for f in funcs],
    }
    if unreached:
        detail["why"] = f"{len(unreached)} of {len(arms)} branches neither reached nor proven dead"
    return ("unknown" if unreached else "proved"), detail


# ---------------------------------------------------------------- call sites


def call_sites(name: str, cls: type, variant: str, timeout: float) -> tuple[str, dict[str, Any]]:
    entry, deadline, mine, proof = _start(name, cls, timeout)
    ex = proof.ex
    by_site: dict[str, list[Any]] = {}
    for c in list(ex.calls):
        callee = ENTRIES.get(c.func.__name__)
        if c.caller == mine and callee is not None and callee.method is not None:
            by_site.setdefault(f"{callee.name} at {c.site}", []).append((callee, c))
    calls: list[dict[str, Any]] = []
    for where, at in by_site.items():
        verdicts = []
        for callee, c in at:
            t = term(c.arguments["ptep"]) if callee.takes_pte else None
            goals = [(n, g) for n, g in callee.pre(c.path.heap, Args(t)) if not n.startswith(LOCKS)]
            goals += _debug_goals(ex, cls, callee, c, t)
            hyps = [*c.path.cond, *ex.sums.axioms, *canonical_ghosts(proof.h)]
            budget = min(CALL_QUERY, max(0.5, deadline - time.perf_counter()))
            verdicts.append((check_incremental(VC(where, hyps, goals, split=True), budget), len(goals)))
        broken = [n for v, _ in verdicts for n in v.conjuncts if v.status != "proved"]
        worst = next((v.status for v, _ in verdicts if v.status != "proved"), "proved")
        calls.append(
            {"call": where, "paths": len(at), "goals": verdicts[0][1], "status": worst, "failing": broken}
        )
    points: dict[tuple[str, str, Any], list[tuple[Any, ...]]] = {}
    for a in ex.answers:
        points.setdefault(a.point, []).append((a.cond,))
    texts = {point: f"{point[0]} answers {point[1]} at {chain_text(point[2])}" for point in points}
    targets = [
        Target(
            texts[point],
            lambda r, p=point: [(a.cond,) for a in r.ex.answers if a.point == p],
            lambda s, p=point: s.answered(*p),
        )
        for point in points
    ]
    files = frozenset(_file(f) for fs in ex.own.values() for f in fs)
    found, found_list = witnesses(entry, cls, variant, targets, files, deadline)
    helpers: list[dict[str, Any]] = []
    for point, conds in points.items():
        text = texts[point]
        if text in found:
            helpers.append({"answer": text, "status": "possible", "witness": found[text]})
            continue
        status = unreachable(proof, conds, text)
        helpers.append({"answer": text, "status": "impossible" if status == "proved" else status})
    failing = [c for c in calls if c["status"] != "proved"]
    undecided = [r for r in helpers if r["status"] not in ("impossible", "possible")]
    detail: dict[str, Any] = {"calls": calls, "helper answers": helpers, "witnesses": found_list}
    if failing or undecided:
        parts = [f"{c['call']}: {', '.join(c['failing']) or c['status']}" for c in failing]
        parts += [
            f"{r['answer']}: neither proven impossible nor witnessed ({r['status']})" for r in undecided
        ]
        detail["why"] = "; ".join(parts)
        return "unknown", detail
    if not calls:
        return "error", {**detail, "error": f"{mine} calls no rmap function on any path"}
    return "proved", detail


def canonical_ghosts(h: Heap) -> list[Any]:
    """The ghosts' encoding of "absent" is -1 (any concrete state has such
    ghosts): the callees' preconditions say "not recorded" as ppos == -1."""
    p = z3.Int("p")
    return [inv.forall(p, h.select(g, p) >= -1, h[g], p) for g in ("g.ppos", "g.npos")]


def _debug_goals(ex: Recorder, cls: type, callee: Entry, c: Any, t: Any) -> list[tuple[str, Any]]:
    """The DEBUG_RMAP checks the callee would make on this call, as goals."""
    h = c.path.heap
    if callee.name == "page_remove_rmap":
        return [(NOT_FOUND, z3.Implies(normal(h), recorded(h, t)))]
    rmap, k = c.arguments["self"], len(c.path.cond)
    goals = []
    for check in DEBUG_CHECKS.get(callee.name, ()):
        method = ex.method(cls.__mro__, check, rmap, None)  # type: ignore[arg-type]
        faults, checks = len(ex.faults), len(ex.checks)
        ex.call(method.func, method.owner, (rmap, c.arguments["page"], c.arguments["ptep"]), {}, c.path)
        # its loop's initiation and consecution, and no BUG, on this call's path
        goals += [
            (
                f"DEBUG_RMAP {check}: {ch.name}",
                z3.Implies(conj(ch.path.cond[k:]), conj(t for _, t in ch.goals)),
            )
            for ch in ex.checks[checks:]
        ]
        goals += [
            (f"DEBUG_RMAP {check}: no BUG ({f.why})", z3.Not(conj(f.path.cond[k:])))
            for f in ex.faults[faults:]
        ]
        del ex.faults[faults:], ex.checks[checks:]
    return goals


def _file(func: Any) -> str:
    from proofs.z3.lift import _short, source_of

    return _short(source_of(func).file)


OBLIGATIONS: list[Obligation] = obligations()
