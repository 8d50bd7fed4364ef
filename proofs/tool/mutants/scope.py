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

CONTRACT_CALLS = ".contract-calls.json"  # in the unmutated copy: what each contract's worlds call
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
    calls: Path | None = None  # where its run on the unmutated code records what each check calls

    def baseline(self) -> tuple[str, ...]:
        """The command on the unmutated code: recording, if the stage can,
        which functions each of its checks calls."""
        return (*self.argv, "--record", str(self.calls)) if self.calls else self.argv

    def on(self, file: str, function: str) -> tuple[str, ...]:
        """The command that judges a mutant of ``function`` in ``file``:
        narrowed by ``per_mutant``, or to the checks whose runs on the
        unmutated code call it (no other run can change), its own first."""
        argv = (*self.argv, *(a.format(file=file, function=function) for a in self.per_mutant))
        if self.calls is None:
            return argv
        return (*argv, "--recorded", str(self.calls), "--reaching", f"{file}:{function}")


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
            (
                py,
                "-c",
                RUN_CLI,
                "prove",
                "--variant",
                "fixed",
                "--deep",
                "--jobs",
                "1",
                "--timeout",
                "60",
                "-x",
            ),
            "proofs/tool/runner.py",
            ("--affected-by", "{file}:{function}"),
            PROVE_NARROWED,
        ),
        # The push worlds, one CrossHair process, only the contracts whose
        # worlds call the mutated function (recorded on the unmutated code),
        # its own first; the first counterexample decides (the run stops there).
        Stage(
            "contracts",
            (py, "-c", RUN_CLI, "contracts", "--variant", "fixed", "--fail-fast", "--jobs", "1"),
            "proofs/crosshair/command.py",
            calls=copy / CONTRACT_CALLS,
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

_FLUSHES_NAME_THE_MM = (
    "_vma_of's answer is only ever handed to flush_cache_page and flush_tlb_page, whose event names "
    "the vma's owner (Kernel._vma_owner: vm_mm when set, else the mm whose list holds that vma) and "
    "the address passed beside it; every vma on an mm's list was made for that list alone (vm_mm "
    "None) and the stand-in names ptep's mm, so any vma of ptep's mm or any stand-in, whatever its "
    "bounds, logs the same events, and the mutated comparison or bound cannot raise"
)

# Stable mutant id -> why that mutant behaves exactly like the original.
EQUIVALENT: dict[str, Equivalent] = {
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_Eq#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start == ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_Gt#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start > ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_GtE#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start >= ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_Is#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start is ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_IsNot#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start is not ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_Lt#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start < ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_LtE_NotEq#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start != ptep.address < v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_Eq#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address == v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_Gt#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address > v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_GtE#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address >= v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_Is#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address is v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_IsNot#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address is not v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_LtE#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address <= v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceComparisonOperator_Lt_NotEq#0": Equivalent(
        "vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address != v.vm_end), None)",
        _FLUSHES_NAME_THE_MM,
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_BitAnd#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address & PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_BitOr#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address | PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_BitXor#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address ^ PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_Div#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address / PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_FloorDiv#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address // PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_LShift#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address << PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_Mod#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address % PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_Mul#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address * PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_Pow#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address ** PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_RShift#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address >> PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/callers.py:_vma_of:ReplaceBinaryOperator_Add_Sub#0": Equivalent(
        "return vma or VMA(ptep.address, ptep.address - PAGE_SIZE, vm_mm=ptep.mm.name)", _FLUSHES_NAME_THE_MM
    ),
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:",
        _SMALL_INT_IS,
    ),
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:",
        _NOTHING_BELOW_SUCCESS,
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:",
        _SMALL_INT_IS,
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:",
        _NOTHING_BELOW_SUCCESS,
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:",
        _PTE_EQ_IS_IDENTITY,
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:",
        _PTE_EQ_IS_IDENTITY,
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:",
        _PTE_EQ_IS_IDENTITY,
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:",
        _PTE_EQ_IS_IDENTITY,
    ),
}

# Why the contracts alone cannot see a survivor of their stage (the tests kill it).
_VMA_ONLY_FLUSHED = (
    "`vma and VMA(...)` answers None, and the flush handed it raises, only for a pte outside every vma of "
    "its mm that a fault backs out of (-ENOMEM) or a zap clears, and no world has one: map_pte's and "
    "zap_pte's ptes sit at vm_start of their vmas (a trace's vmas op can make one)"
)
_SWAP_PTE_PFN_ZERO = (
    "a pte that is not present has pfn 0 (PteVal's default: it holds a swap entry or nothing) and the "
    "worlds' one page is pfn 1 (PFN), so `pte.present or k.pfn_valid(pte.pfn)` is `pte.present` in every "
    "world; only a world with a page at pfn 0 could tell"
)
_ZAPPED_PTE_HOLDS_SOMETHING = (
    "every pte a world zaps holds a page or a swap entry (zap_pte's precondition), a PteVal that is neither "
    "equal to nor the same object as PTE_NONE, so `is not PTE_NONE` answers as `!= PTE_NONE`; only a pte "
    "cleared to a distinct value equal to PTE_NONE could tell, and the contract's caller never zaps one"
)
_DEBUG_CHECKS_PASS = (
    "DEBUG_RMAP's checks BUG() only on a call no caller makes (a NULL page or pte, a pte not present or "
    "already recorded), and every world's call is a caller's, so running them with DEBUG_RMAP off passes "
    "and changes nothing; rmap's own default is never used (every Session passes debug_rmap)"
)
_NO_NULL_ARGUMENT = (
    "`not page and not ptep` BUG()s only when both are NULL, where the seed's `or` does when either is; no "
    "caller passes a NULL page or pte, so in every world both tests are false"
)
_RESERVED_HAS_NO_ENTRY = (
    "a reserved page with a valid pfn is then walked instead of returned from at once: page_add_rmap never "
    "records an entry for a reserved page, so the walk finds none and, with F4's fix, counts nothing; the "
    "state after the call is the same in every world (the not-found report only prints)"
)
_PRINTK_ONLY = (
    "_report_not_found then prints where DEBUG_RMAP is off and not where it is on: its printk lines are its "
    "only effect, and no contract reads the kernel log"
)
_REPORT_TEXT_ONLY = (
    "_entries_text only builds the text of page_remove_rmap's not-found report, printed under "
    "DEBUG_RMAP: the z3 layout reads debug_rmap as False (docs/reachability.md lists that arm as never "
    "taken when lifted), and no obligation reads the kernel log"
)
_NO_DEBUG_RMAP = (
    "a DEBUG_RMAP check: every obligation proves or runs the kernel built without DEBUG_RMAP (the z3 "
    "layout reads debug_rmap as False, the interleaving and exhaustive worlds build their rmap without "
    "it), so none runs this code; the tests that build with DEBUG_RMAP see it"
)

# Survivors of one stage run alone (``rmap-verify mutants --stage NAME``):
# stage -> mutant id -> the mutated line it expects and why that stage
# cannot see the mutant (another stage kills it).  A survivor of a stage run
# that is neither here nor in EQUIVALENT fails that run.
BLIND: dict[str, dict[str, Equivalent]] = {
    "prove": {
        "impl/rmap_seed.py:page_remove_rmap:ReplaceOrWithAnd#0": Equivalent(
            "if not page and not ptep:",
            "no obligation passes a NULL page or pte: the z3 layout's page and pte are objects, never NULL, "
            "and the callers of the interleaving and exhaustive worlds pass real ones, so `and` and `or` "
            "BUG alike (never); the unit tests that pass NULL kill it",
        ),
        "impl/rmap_seed.py:_entries_text:AddNot#0": Equivalent("if not PageDirect(page):", _REPORT_TEXT_ONLY),
        "impl/rmap_seed.py:_entries_text:AddNot#1": Equivalent("while not pc:", _REPORT_TEXT_ONLY),
        "impl/rmap_seed.py:_debug_check_args:ReplaceOrWithAnd#0": Equivalent(
            "if not page and not ptep:", _NO_DEBUG_RMAP
        ),
        "impl/rmap_seed.py:__init__:ReplaceFalseWithTrue#0": Equivalent(
            "def __init__(self, k: Kernel, *, debug_rmap: bool = True) -> None:",
            "the z3 layout reads debug_rmap as False whatever __init__ was given; the interleaving worlds "
            "build their rmap with the default, so the mutant runs them with DEBUG_RMAP on, whose checks "
            "BUG only for a pte not present, with no mm or already on the page, which no path of a "
            "correct world adds",
        ),
        "impl/fixes.py:page_add_rmap:AddNot#0": Equivalent(
            "if not self.debug_rmap:",
            "every obligation proves the kernel built without DEBUG_RMAP, where the flipped test runs "
            "_debug_check_args; that check BUGs only for a missing page or pte, a pte not present or "
            "one with no mm, which page_add_rmap's precondition and its callers exclude",
        ),
        "impl/callers.py:_vma_of:ReplaceOrWithAnd#0": Equivalent(
            "return vma and VMA(ptep.address, ptep.address + PAGE_SIZE, vm_mm=ptep.mm.name)",
            "the z3 obligations run the model of _vma_of (proofs/z3/models.py: a vma standing for the pte's "
            "mm and address), not its body; the mutant answers None, and the flush that gets it raises, "
            "only for a pte outside every vma of its mm, and no interleaving or exhaustive world has one "
            "(a trace's vmas op can make one)",
        ),
        "impl/callers.py:map_pte:ReplaceFalseWithTrue#0": Equivalent(
            "def map_pte(rmap: SeedRmap, ptep: Pte, page: Page, *, dirty: bool = True) -> str:",
            "the z3 map obligations call map_pte with `dirty` a symbolic argument (both values, never the "
            "default); the interleaving worlds fault pages in with the default, but nothing they check "
            "(the representation invariant, deadlock, SWAP_AGAIN's end) reads a pte's dirty bit or "
            "PG_dirty",
        ),
        "impl/callers.py:map_pte:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
            "if rmap.page_add_rmap(page, ptep) is -ENOMEM:",
            "the VC generator reads `is` between two ints as `==` (proofs.z3.values.same); in CPython "
            "page_add_rmap's -ENOMEM is a new int object (outside the small-int cache), so this `is` is "
            "always False and a failed fault is never backed out, which the generator cannot see; the "
            "interleaving and exhaustive worlds never make pte_chain_alloc fail",
        ),
        "impl/callers.py:zap_pte:ReplaceComparisonOperator_NotEq_IsNot#0": Equivalent(
            '_require(ptep.val is not PTE_NONE, f"{ptep.name} holds nothing to zap")',
            "the VC generator reads `is not` between two pte values as `!=` (proofs.z3.values.same); the "
            "two differ only for a pte value equal to PTE_NONE but another object, which only "
            "ptep_test_and_clear_young of a none pte makes, outside every obligation's precondition "
            "(every chain entry maps its page)",
        ),
    },
    "contracts": {
        "impl/callers.py:map_pte:ReplaceFalseWithTrue#0": Equivalent(
            "def map_pte(rmap: SeedRmap, ptep: Pte, page: Page, *, dirty: bool = True) -> str:",
            "every contract world states each mapping's dirty bit (its letter's case, or map_pte's `dirty` "
            "choice), so no contract calls map_pte with the default; the tests that fault a page in without "
            "naming the bit kill it",
        ),
        "impl/callers.py:_vma_of:ReplaceOrWithAnd#0": Equivalent(
            "return vma and VMA(ptep.address, ptep.address + PAGE_SIZE, vm_mm=ptep.mm.name)",
            _VMA_ONLY_FLUSHED,
        ),
        "impl/callers.py:zap_pte:ReplaceComparisonOperator_NotEq_IsNot#0": Equivalent(
            '_require(ptep.val is not PTE_NONE, f"{ptep.name} holds nothing to zap")',
            _ZAPPED_PTE_HOLDS_SOMETHING,
        ),
        "impl/callers.py:zap_pte:ReplaceAndWithOr#0": Equivalent(
            "if pte.present or k.pfn_valid(pte.pfn):", _SWAP_PTE_PFN_ZERO
        ),
        "impl/fixes.py:page_add_rmap:AddNot#0": Equivalent("if not self.debug_rmap:", _DEBUG_CHECKS_PASS),
        "impl/fixes.py:page_add_rmap:AddNot#2": Equivalent("if not self.debug_rmap:", _DEBUG_CHECKS_PASS),
        "impl/rmap_seed.py:__init__:ReplaceFalseWithTrue#0": Equivalent(
            "def __init__(self, k: Kernel, *, debug_rmap: bool = True) -> None:", _DEBUG_CHECKS_PASS
        ),
        "impl/rmap_seed.py:_debug_check_args:ReplaceOrWithAnd#0": Equivalent(
            "if not page and not ptep:", _NO_NULL_ARGUMENT
        ),
        "impl/rmap_seed.py:page_remove_rmap:ReplaceOrWithAnd#0": Equivalent(
            "if not page and not ptep:", _NO_NULL_ARGUMENT
        ),
        "impl/rmap_seed.py:page_remove_rmap:ReplaceOrWithAnd#1": Equivalent(
            "if not k.pfn_valid(pfn) and PageReserved(page):", _RESERVED_HAS_NO_ENTRY
        ),
        "impl/rmap_seed.py:_report_not_found:AddNot#0": Equivalent("if not self.debug_rmap:", _PRINTK_ONLY),
    },
}
