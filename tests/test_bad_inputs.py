"""Every bad input of issue 14, fed to the command line as CI would: exit 2, one line, no traceback.

Each case runs ``rmap-verify`` in a process of its own (so that closed
standard input, unreadable files and signals are the real thing) and
checks the exit code, that standard error is at most one line, and that
no traceback reached it.  Ctrl-C is exit 130 with one line and a report
marked incomplete.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import world_desc

from proofs.findings import FINDINGS

CLI = (sys.executable, "-c", "import sys; from proofs.tool.cli import main; sys.exit(main())")
ROOT = Path(__file__).resolve().parents[1]
WORLD = world_desc(2, 2)


def rmap_verify(*argv: str, cwd: Path, stdin: bytes | None = b"", shell_stdin_closed: bool = False) -> Any:
    if shell_stdin_closed:  # `rmap-verify replay - <&-`: the process starts with no fd 0
        command = " ".join(f"'{a}'" for a in (*CLI, *argv)) + " <&-"
        return subprocess.run(["sh", "-c", command], cwd=cwd, capture_output=True, timeout=120, env=_env())
    return subprocess.run([*CLI, *argv], cwd=cwd, input=stdin, capture_output=True, timeout=120, env=_env())


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def assert_one_line_usage_error(done: Any, *, code: int = 2) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == code, (done.returncode, err)
    assert len(err.splitlines()) <= 1, err
    assert "Traceback" not in err, err
    return err


def _line(op: dict[str, Any]) -> bytes:
    return json.dumps(op).encode() + b"\n"


def _world(**changes: Any) -> dict[str, Any]:
    world = json.loads(json.dumps(WORLD))
    for key, value in changes.items():
        world[key] = value
    return world


def _with(path: str, value: Any) -> dict[str, Any]:
    """WORLD with one entry changed: path like 'pages.0.count'."""
    world = json.loads(json.dumps(WORLD))
    *keys, last = path.split(".")
    target: Any = world
    for key in keys:
        target = target[int(key)] if key.isdigit() else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return world


SWAP_CACHE_UNDECLARED = [
    {"op": "world", **{**WORLD, "pages": [{"pfn": 1, "swapcache": True, "index": 99}]}},
    {"op": "map", "pte": "p0", "pfn": 1},
    {"op": "set_pte", "pte": "p0", "young": False},
    {"op": "set_page", "pfn": 1, "locked": True},
    {"op": "try_to_unmap", "pfn": 1},
    {"op": "map", "pte": "p0", "pfn": 1},
]
BAD_TRACES: dict[str, bytes] = {
    "latin-1 byte": b'{"op": "world", "pages": [{"pfn": 1, "mapping": "caf\xe9"}]}\n',
    "random bytes": random.Random(14).randbytes(4096),
    "100k-deep nesting": b'{"op": "world", "pages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    "5000-digit pfn": _line(WORLD)[:-1] + b'\n{"op": "reclaim", "pfn": ' + b"9" * 5000 + b"}\n",
    "5000-digit swap slot": _line(_world(swap={"9" * 5000: 1})),
    "unknown swap entry, unmapped and mapped again": b"".join(_line(op) for op in SWAP_CACHE_UNDECLARED),
    "set_page puts a page in the swap cache at an undeclared slot": _line(WORLD)
    + _line({"op": "set_page", "pfn": 1, "swapcache": True, "index": 5}),
    "typo in a world entry: vma": _line(_with("mms.0", {"name": "A", "vma": []})),
    "typo in a world entry: cnt": _line(_with("pages.0", {"pfn": 1, "cnt": 2})),
    "typo in a world entry: swapcach": _line(_with("pages.0", {"pfn": 1, "swapcach": True})),
    "overlapping vmas": _line(
        _with("mms.0.vmas", [{"start": 0, "end": 0x3000}, {"start": 0x2000, "end": 0x4000}])
    ),
    "unsorted vmas": _line(
        _with("mms.0.vmas", [{"start": 0x4000, "end": 0x5000}, {"start": 0, "end": 0x1000}])
    ),
    "vma start > end": _line(_with("mms.0.vmas", [{"start": 0x4000, "end": 0x1000}])),
    "negative address": _line(_with("ptes.0.address", -4096)),
    "unaligned address": _line(_with("ptes.0.address", 0x1001)),
    "two ptes at the same mm and address": _line(
        _with("ptes.1", {"name": "p1", "mm": "A", "address": 0x1000})
    ),
    "negative pfn": _line(_with("pages.0.pfn", -1)),
    "negative page count": _line(_with("pages.0.count", -1)),
    "empty name": _line(_with("mms.0.name", "")),
    "fail_alloc n < 0": _line(WORLD) + _line({"op": "fail_alloc", "n": -1}),
    "an unknown key in an operation": _line(WORLD) + _line({"op": "zap", "pte": "p0", "ptee": "p1"}),
    "empty trace": b"",
    "blank lines only": b"\n\n  \n",
    "not a world first": _line({"op": "zap", "pte": "p0"}),
}


@pytest.mark.parametrize("name", BAD_TRACES)
def test_a_bad_trace_is_one_line_and_exit_2(name: str, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(BAD_TRACES[name])
    done = rmap_verify("replay", str(trace), "--strict", cwd=tmp_path)
    err = assert_one_line_usage_error(done)
    assert err.startswith("rmap-verify replay: error: ") and done.stdout == b""


def test_the_swap_cache_case_names_the_slot(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_bytes(BAD_TRACES["unknown swap entry, unmapped and mapped again"])
    err = assert_one_line_usage_error(rmap_verify("replay", str(trace), cwd=tmp_path))
    assert "t.jsonl:1: world: pages[0]: page 1 is in the swap cache at entry 99" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "/proc/self/mem"],
        ["replay", "."],
        ["replay", "/dev/zero"],
        ["replay", "no/such/trace.jsonl"],
        ["prove", "--json", ""],
        ["prove", "--json", "/dev/full"],
        ["prove", "--json", "missing/dir/r.json"],
        ["prove", "--junit", "."],
        ["prove", "--cex-dir", "/proc/cex"],
        ["prove", "-k", "not"],
        ["prove", "-k", "((try_to_unmap)"],
        ["prove", "--timeout", "-1"],
        ["contracts", "--json", ""],
        ["contracts", "--json", "/dev/full"],
        ["contracts", "--junit", "missing/dir/c.xml"],
        ["contracts", "-k", "and"],
        ["contracts", "--per-condition-timeout", "nan"],
        ["mutants", "--quick", "--report", "."],
        ["mutants", "--jobs", "-3"],
        ["docs", "--nonsense"],
    ],
    ids=" ".join,
)
def test_a_bad_file_or_option_is_one_line_and_exit_2(argv: list[str], tmp_path: Path) -> None:
    assert_one_line_usage_error(rmap_verify(*argv, cwd=tmp_path))
    assert not (tmp_path / "missing").exists() and not (tmp_path / "reports").exists()


def test_standard_output_that_cannot_be_written(tmp_path: Path) -> None:
    trace = next(iter(FINDINGS)).trace
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*CLI, "replay", str(trace)], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, env=_env()
        )
    assert "cannot write the output" in assert_one_line_usage_error(done)


def test_closed_standard_input(tmp_path: Path) -> None:
    err = assert_one_line_usage_error(rmap_verify("replay", "-", cwd=tmp_path, shell_stdin_closed=True))
    assert "standard input is closed" in err


def test_the_good_traces_still_replay(tmp_path: Path) -> None:
    for f in FINDINGS:
        done = rmap_verify("replay", str(f.trace), "--variant", "fixed", "--strict", cwd=tmp_path)
        assert done.returncode == 0 and done.stderr == b""
        assert len(done.stdout.splitlines()) == len(
            [x for x in f.trace.read_text().splitlines() if x.strip()]
        )


def test_version_everywhere(tmp_path: Path) -> None:
    for argv in (
        ["--version"],
        *([c, "--version"] for c in ("replay", "prove", "contracts", "docs", "mutants")),
    ):
        done = rmap_verify(*argv, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout.decode().startswith("rmap-verify ")


@pytest.mark.parametrize(
    ("argv", "report"),
    [
        (["prove", "--variant", "seed", "-k", "concurrent or SWAP_AGAIN", "--jobs", "2"], "totals"),
        (["contracts", "--variant", "seed", "-k", "try_to_unmap", "--jobs", "2"], "conditions"),
    ],
    ids=["prove", "contracts"],
)
def test_ctrl_c_is_exit_130_one_line_and_a_report_marked_incomplete(
    argv: list[str], report: str, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [*CLI, *argv, "--json", "r.json"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(3.0)  # past start-up, with work running in the pool
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    done = subprocess.CompletedProcess(argv, process.returncode, out, err)
    assert "interrupted" in assert_one_line_usage_error(done, code=130)
    written = json.loads((tmp_path / "r.json").read_text())
    complete = written["totals"]["complete"] if report == "totals" else written["complete"]
    assert complete is False and written["not_run"]


def test_run_as_a_module_bad_input_is_one_line_too(tmp_path: Path) -> None:
    """``python -m proofs.tool.cli`` runs the file as ``__main__``: its errors are still caught."""
    done = subprocess.run(
        [sys.executable, "-m", "proofs.tool.cli", "prove", "--json", ""],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        env=_env(),
    )
    assert "--json needs a file name" in assert_one_line_usage_error(done)
