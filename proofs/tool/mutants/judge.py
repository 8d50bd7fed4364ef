"""Judging mutants: private copies of the project, and the stages run in them."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmic_ray.mutating import use_mutation
from cosmic_ray.plugins import get_operator

from proofs.tool.mutants.generate import Mutant
from proofs.tool.mutants.scope import (
    BLIND,
    EQUIVALENT,
    HASH_SEED,
    NOT_COPIED,
    RUN_CLI,
    TIMEOUT_FACTOR,
    TIMEOUT_MIN,
    Stage,
    stages,
)
from proofs.tool.paths import ROOT


@dataclass
class Verdict:
    ident: str
    file: str
    line: int
    function: str
    operator: str
    diff: str
    status: str  # "killed", "survived", "equivalent" or (a stage run alone) "blind"
    killed_by: str | None
    seconds: float
    reason: str | None = None


# ------------------------------------------------------------------ running


def head_commit() -> str | None:
    """The commit the copies are made from, or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:  # no git at all
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def make_copy(dest: Path) -> Path:
    """A private copy of the committed project (git HEAD), so that work in
    progress in the working tree neither breaks nor colours the run; a tree
    that is not a git checkout is copied as it is."""
    if head_commit() is None:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_COPIED))
        return dest
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


class StoppedRun(Exception):
    """Ctrl-C: the stages running were killed and no further stage starts."""


_running: set[subprocess.Popen[str]] = set()  # stage processes now running, in any judging thread
_stopping = threading.Event()


def stop_stages() -> None:
    """End every running stage's process group, and start no other."""
    _stopping.set()
    for proc in list(_running):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def run_stage(
    stage: Stage, argv: tuple[str, ...], copy: Path, timeout: float | None
) -> tuple[bool | None, float, str]:
    """(passed, seconds, output) of the stage's command ``argv``; passed is None on a timeout."""
    if _stopping.is_set():
        raise StoppedRun(stage.name)
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": HASH_SEED}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a timeout ends the stage's whole process group
        text=True,
    )
    _running.add(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, time.perf_counter() - start, out
    finally:
        _running.discard(proc)
    if _stopping.is_set():
        raise StoppedRun(stage.name)
    return proc.returncode == 0, time.perf_counter() - start, out


def _first_failure(stage: Stage, output: str) -> str:
    """What in a stage's output names the first thing that failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if stage.name == "tests":
        for line in lines:
            if line.startswith(("FAILED ", "ERROR ")):
                return line.split(" ", 1)[1].split(" - ", 1)[0]
    if stage.name == "prove":  # its progress lines: "[ 3/18] counterexample    1.20 s  IDENT"
        for line in lines:
            status, _, rest = line.partition("] ")[2].partition(" ")
            if line.startswith("[") and status and status != "proved":
                return f"{status}: {rest.split(' s  ', 1)[-1]}"
    return lines[-1][:200] if lines else "(no output)"


class BaselineFailed(Exception):
    """A stage fails on the unmutated code: no mutant can be judged by it."""


class Judge:
    """Runs stages on mutants in private copies, timing each stage first on
    an unmutated copy (lazily: a stage no mutant reaches is never timed);
    with ``only``, that stage alone judges every mutant."""

    def __init__(self, workdir: Path, workers: int, *, quick: bool = False, only: str | None = None) -> None:
        self.base = make_copy(workdir / "base")
        self.copies = [make_copy(workdir / f"w{i}") for i in range(workers)]
        self.free = list(self.copies)
        self.stages = stages(self.base, quick=quick, only=only)
        self.blind = BLIND.get(only, {}) if only else {}
        self.baseline: dict[str, float] = {}
        self._lock = threading.Lock()
        self._baseline_lock = threading.Lock()

    def timeout(self, stage: Stage) -> float:
        with self._baseline_lock:
            if stage.name not in self.baseline:
                passed, seconds, out = run_stage(stage, stage.baseline(), self.base, None)
                if not passed:
                    tail = "\n".join(out.splitlines()[-15:])
                    raise BaselineFailed(f"the {stage.name} stage fails on the unmutated code:\n{tail}")
                self.baseline[stage.name] = seconds
            return max(TIMEOUT_MIN, TIMEOUT_FACTOR * self.baseline[stage.name])

    def judge(self, mutant: Mutant) -> Verdict:
        with self._lock:
            copy = self.free.pop()
        start = time.perf_counter()
        try:
            killed_by = self._killer(mutant, copy)
        finally:
            with self._lock:
                self.free.append(copy)
        seconds = time.perf_counter() - start
        status, reason = "killed", None
        if killed_by is None:
            status, reason = "survived", None
            if mutant.ident in EQUIVALENT:
                status, reason = "equivalent", EQUIVALENT[mutant.ident].reason
            elif mutant.ident in self.blind:
                status, reason = "blind", self.blind[mutant.ident].reason
        return Verdict(
            mutant.ident,
            mutant.file,
            mutant.line,
            mutant.function,
            mutant.operator,
            mutant.diff,
            status,
            killed_by,
            round(seconds, 2),
            reason,
        )

    def _killer(self, mutant: Mutant, copy: Path) -> str | None:
        operator = get_operator(mutant.operator)()
        with use_mutation(copy / mutant.file, operator, mutant.occurrence) as (_, mutated):
            assert mutated is not None, mutant.ident
            for stage in self.stages:
                argv = stage.on(mutant.file, mutant.function)
                passed, _, out = run_stage(stage, argv, copy, self.timeout(stage))
                if passed is None:
                    return f"{stage.name}: timeout"
                if not passed:
                    return f"{stage.name}: {_first_failure(stage, out)}"
        return None


def run_mutants(
    mutants: list[Mutant],
    workers: int,
    progress: Callable[[Verdict], None] | None = None,
    quick: bool = False,
    only: str | None = None,
) -> tuple[list[Verdict], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="rmap-mutants-") as tmp:
        judge = Judge(Path(tmp), workers, quick=quick, only=only)
        verdicts: list[Verdict] = []
        pool = ThreadPoolExecutor(workers)
        try:
            for verdict in pool.map(judge.judge, mutants):
                verdicts.append(verdict)
                if progress:
                    progress(verdict)
        except KeyboardInterrupt:
            stop_stages()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        info = {
            "stages": [
                {
                    "name": s.name,
                    "command": " ".join(s.on("FILE", "FUNCTION")[1:]).replace(f"-c {RUN_CLI}", "rmap-verify"),
                    "narrowed": s.narrowed,
                    "baseline_seconds": round(judge.baseline[s.name], 2)
                    if s.name in judge.baseline
                    else None,
                }
                for s in judge.stages
            ]
        }
    return verdicts, info
