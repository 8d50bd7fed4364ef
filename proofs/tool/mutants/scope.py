"""What is mutated, what judges a mutant, and the mutants no test can kill."""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from proofs.tool.paths import RESULTS

DEFAULT_REPORT = RESULTS / "mutants.json"
# What a private copy of the project leaves out: the environment, history,
# caches and build outputs.  Tests may read anything else (docs_src/, docs/).
NOT_COPIED = (
    ".venv",
    ".git",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    ".coverage",
    "site",
    "build",
    "reports",
)
TIMEOUT_FACTOR, TIMEOUT_MIN = 4.0, 20.0
# Every stage runs with this hash seed.  The z3 obligations' time depends on the order the VC
# generator builds terms in, which follows set order and so the hash seed (zap refinement [fixed]:
# 6 s with one seed, 25 s with another, past a 120 s query timeout with some): with a fixed seed
# the baseline and every mutant meet the same prover, and a run can be repeated.
HASH_SEED = "1"
QUICK_SIZE = 12
MIN_SCORE = 0.95  # the committed full run's mutation score may not fall below this


def _inherited_seed_methods() -> frozenset[str]:
    """SeedRmap's functions that FixedRmap runs as they are (no fix overrides them)."""
    return frozenset(
        name
        for name, member in vars(SeedRmap).items()
        if inspect.isfunction(member) and getattr(FixedRmap, name) is member
    )


# module -> which definitions to mutate (None: all of them)
SCOPE: dict[str, frozenset[str] | None] = {
    "impl/fixes.py": None,
    "impl/rmap_seed.py": _inherited_seed_methods(),
    "impl/callers.py": None,
}

# Test files the per-mutant pytest stage leaves out, and why.  Every other
# tests/test_*.py runs, FIRST ones first (fast and close to the code, so a
# mutant dies early), with -x so that the first failure ends the stage.
SKIPPED_TESTS: dict[str, str] = {
    "test_mutants_quick.py": "runs mutants itself",
    "test_prove_suite.py": "the prove stage runs the obligations directly",
    "test_soundness.py": "checks the verifier (satisfiable hypotheses, stable answers), not impl/",
    "test_runner.py": "checks the prove runner on self-check obligations, not impl/",
    "test_contracts.py": "the contracts stage runs the contracts directly",
    "test_docs.py": "checks docs/ against the generator; no mutant changes a docstring",
}
FIRST = (
    "test_rmap_branches.py",
    "test_callers.py",
    "test_mutation_kills.py",
    "test_kernel.py",
    "test_smoke.py",
    "test_spec.py",
)

RUN_CLI = "import sys; from proofs.tool.cli import main; sys.exit(main())"
STAGE_NAMES = ("tests", "prove", "contracts")  # the stages, in the order they judge a mutant


def stage_report(stage: str) -> Path:
    """Where ``rmap-verify mutants --stage STAGE`` writes its report."""
    return RESULTS / f"mutants-{stage}.json"


@dataclass(frozen=True)
class Stage:
    """One check a mutant must pass to survive: a command in the copy."""

    name: str
    argv: tuple[str, ...]
    needs: str  # a file of the copy that must exist for the stage to run
    # Arguments added for each mutant ({file}, {function}: where it is), narrowing the stage to what the
    # mutant can change; the unmutated baseline (and so the timeout) is the whole stage without them.
    per_mutant: tuple[str, ...] = ()
    narrowed: str = ""  # what per_mutant leaves out, and why that is sound (the report's killed_means)

    def command(self, file: str, function: str) -> tuple[str, ...]:
        return (*self.argv, *(a.format(file=file, function=function) for a in self.per_mutant))


PROVE_NARROWED = (
    "each mutant runs only the obligations its function can change (prove --affected-by FILE:FUNCTION): "
    "every interleaving and exhaustive obligation, as they run impl/'s Python (first: they fail "
    "quickly), then each z3 obligation "
    "whose entry point may reach the function in proofs.z3.callmap's static call map (the VC generator "
    "inlines the variant's methods and the callers and enters a function only by a name the code spells "
    "out, so a z3 obligation that cannot reach the mutated function generates the same VCs from the "
    "mutant as from the unmutated code, which proves them all); the first obligation not proved ends "
    "the run (-x)"
)


def stages(copy: Path, *, quick: bool = False, only: str | None = None) -> list[Stage]:
    """The stages that exist in this copy of the project, cheapest first;
    for --quick only the tests stage over the FIRST test files; with
    ``only``, that stage alone (--stage)."""
    found = {p.name for p in (copy / "tests").glob("test_*.py")} - set(SKIPPED_TESTS)
    tests = [t for t in FIRST if t in found] + ([] if quick else sorted(found - set(FIRST)))
    py = sys.executable
    candidates = [
        Stage(
            "tests",
            (py, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *(f"tests/{t}" for t in tests)),
            "tests/conftest.py",
        ),
        # The default solver timeout: some forty times the slowest query of the unmutated code on a
        # loaded machine, thrice its slowest interleaving exploration (whose budget it also is), so
        # a mutant does not die of load; the budget of a failing obligation's search for a replaying
        # trace is that timeout too, the bulk of what a kill costs.  The first obligation not proved
        # decides (-x); only the obligations the mutated function can change run.
        Stage(
            "prove",
            (py, "-c", RUN_CLI, "prove", "--variant", "fixed", "--jobs", "1", "--timeout", "60", "-x"),
            "proofs/tool/runner.py",
            ("--affected-by", "{file}:{function}"),
            PROVE_NARROWED,
        ),
        # The first counterexample decides: the run stops there.
        Stage(
            "contracts",
            (py, "-c", RUN_CLI, "contracts", "--variant", "fixed", "--fail-fast"),
            "proofs/crosshair/command.py",
        ),
    ]
    assert tuple(s.name for s in candidates) == STAGE_NAMES
    if only is not None:
        return [s for s in candidates if s.name == only and (copy / s.needs).exists()]
    return [s for s in candidates[: 1 if quick else None] if (copy / s.needs).exists()]


@dataclass(frozen=True)
class Equivalent:
    """A survivor no test can kill: the mutated line it expects, and why."""

    line: str  # the mutated source line, stripped: a moved mutant id is caught
    reason: str


_SMALL_INT_IS = (
    "try_to_unmap_one answers one of the constants SWAP_SUCCESS..SWAP_FAIL (the ints 0..2), and CPython "
    "keeps a single object for each small int, so `is SWAP_SUCCESS` answers exactly as `== SWAP_SUCCESS`"
)
_NOTHING_BELOW_SUCCESS = (
    "try_to_unmap_one answers SWAP_SUCCESS (0), SWAP_AGAIN (1) or SWAP_FAIL (2), never less than "
    "SWAP_SUCCESS, so `<= SWAP_SUCCESS` holds exactly when `== SWAP_SUCCESS` does"
)
_PTE_EQ_IS_IDENTITY = (
    "Pte is a dataclass(eq=False), and NULL and a misread union word define no __eq__ either, so `==` "
    "falls back to identity and answers exactly as `is` for every value compared here"
)

# Stable mutant id -> why that mutant behaves exactly like the original.
EQUIVALENT: dict[str, Equivalent] = {
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:", _SMALL_INT_IS
    ),
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:", _NOTHING_BELOW_SUCCESS
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:", _SMALL_INT_IS
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:", _NOTHING_BELOW_SUCCESS
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:", _PTE_EQ_IS_IDENTITY
    ),
}

# Survivors of one stage run alone (``rmap-verify mutants --stage NAME``):
# stage -> mutant id -> the mutated line it expects and why that stage
# cannot see the mutant (another stage kills it).  A survivor of a stage run
# that is neither here nor in EQUIVALENT fails that run.
BLIND: dict[str, dict[str, Equivalent]] = {
    "contracts": {
        "impl/callers.py:map_pte:ReplaceFalseWithTrue#0": Equivalent(
            "def map_pte(rmap: SeedRmap, ptep: Pte, page: Page, *, dirty: bool = True) -> str:",
            "every contract world states each mapping's dirty bit (its letter's case, or map_pte's `dirty` "
            "choice), so no contract calls map_pte with the default; the tests that fault a page in without "
            "naming the bit kill it",
        ),
    },
}
