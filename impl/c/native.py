"""Talking to the built oracle: in this process, or as a sanitized subprocess.

Both carry the same line protocol (impl/c/protocol.c): ``call`` sends
command lines and answers the lines that come back.  ``InProcess`` loads
the shared library with ctypes (a fault in the seed is caught inside the C
by sigsetjmp, so it costs one answer line, not the process).
``Subprocess`` runs the sanitizer build's driver; when it ends, ``close``
answers what AddressSanitizer, UndefinedBehaviorSanitizer and
LeakSanitizer said.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import IO, Protocol

from impl.c.build import Build


class OracleError(Exception):
    """The oracle answered something the Python side cannot use (one line)."""


class OracleDied(OracleError):
    """The oracle's process ended in the middle of a command (a sanitizer
    stopped it); ``report`` is what it said."""

    def __init__(self, report: SanitizerReport) -> None:
        super().__init__(report.first_error() or f"the oracle exited with status {report.exit_code}")
        self.report = report


class Oracle(Protocol):
    build: Build
    owner: object  # the session whose world the C holds now (one at a time)

    def call(self, script: str) -> list[str]: ...

    def close(self) -> SanitizerReport | None: ...


class InProcess:
    """The shared library, loaded into this process."""

    def __init__(self, build: Build) -> None:
        self.build = build
        lib = ctypes.CDLL(str(build.product))
        self._batch = lib.orc_batch
        self._batch.restype = ctypes.c_void_p
        self._batch.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t)]
        self._len = ctypes.c_size_t()
        self.owner: object = None

    def call(self, script: str) -> list[str]:
        address = self._batch(script.encode(), ctypes.byref(self._len))
        return ctypes.string_at(address, self._len.value).decode().splitlines()

    def close(self) -> SanitizerReport | None:
        return None  # a loaded library stays; the next world resets it


# What the sanitizer build runs under: the seed's own SIGSEGV is caught by
# the oracle (handle_segv=0), leaks are reported when the driver exits.
SANITIZER_ENV = {
    "ASAN_OPTIONS": "handle_segv=0:handle_sigbus=0:detect_leaks=1:exitcode=23:color=never",
    "UBSAN_OPTIONS": "print_stacktrace=1:color=never",
    "LSAN_OPTIONS": "exitcode=23",
}


class Subprocess:
    """The driver executable, one process per replay."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self._stderr: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")
        self._proc = subprocess.Popen(
            [str(build.product)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, **SANITIZER_ENV},
        )
        self._report: SanitizerReport | None = None
        self.owner: object = None

    def call(self, script: str) -> list[str]:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(script.rstrip("\n") + "\nsync\n")
            proc.stdin.flush()
        except BrokenPipeError:
            raise OracleDied(self._finish()) from None
        lines: list[str] = []
        for line in proc.stdout:
            if line == "sync\n":
                return lines
            lines.append(line.rstrip("\n"))
        raise OracleDied(self._finish())

    def _finish(self) -> SanitizerReport:
        if self._report is None:
            proc = self._proc
            if proc.stdin is not None and not proc.stdin.closed:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            code = proc.wait(timeout=120)
            if proc.stdout is not None:
                proc.stdout.close()
            self._stderr.seek(0)
            self._report = SanitizerReport.parse(self._stderr.read(), code)
            self._stderr.close()
        return self._report

    def close(self) -> SanitizerReport:
        return self._finish()


# ---------------------------------------------------------------- sanitizers

_LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\) allocated from:")
_FRAME = re.compile(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+) (\S+)")


@dataclass
class Leak:
    """One of LeakSanitizer's leak reports (direct or indirect)."""

    bytes: int
    objects: int
    stack: list[str] = field(default_factory=list)  # "function file:line", innermost first


@dataclass
class SanitizerReport:
    """What the sanitizers printed when the driver ended."""

    exit_code: int
    errors: list[str]  # AddressSanitizer's ERROR lines (it stops at the first)
    undefined: list[str]  # UndefinedBehaviorSanitizer's runtime errors
    leaks: list[Leak]

    @staticmethod
    def parse(text: str, exit_code: int) -> SanitizerReport:
        errors: list[str] = []
        undefined: list[str] = []
        leaks: list[Leak] = []
        current: Leak | None = None
        for line in text.splitlines():
            if m := _LEAK.match(line):
                current = Leak(int(m[2]), int(m[3]))
                leaks.append(current)
            elif current is not None and (f := _FRAME.match(line)):
                if not f[1].startswith("__interceptor") and f[1] != "xcalloc":  # the allocator's own
                    current.stack.append(f"{f[1]} {os.path.basename(f[2])}")
            elif "runtime error:" in line:
                site, what = line.split("runtime error:", 1)
                undefined.append(f"{os.path.basename(site.strip().rstrip(':'))}: {what.strip()}")
                current = None
            elif "ERROR: AddressSanitizer" in line:
                errors.append(line.split("ERROR: ", 1)[1].strip())
                current = None
            elif not line.strip():
                current = None
        return SanitizerReport(exit_code, errors, undefined, leaks)

    def leaked_objects(self) -> int:
        return sum(leak.objects for leak in self.leaks)

    def first_error(self) -> str | None:
        return next(iter(self.errors), None)

    def clean(self) -> bool:
        return not (self.errors or self.undefined or self.leaks)

    def verdict(self) -> str:
        """One line: what the three sanitizers found."""
        parts = [f"AddressSanitizer: {e}" for e in self.errors[:1]]
        parts += [f"UBSan: {u}" for u in self.undefined]
        if self.leaks:
            total = sum(leak.bytes for leak in self.leaks)
            parts.append(f"LeakSanitizer: {total} byte(s) leaked in {self.leaked_objects()} object(s)")
        return "; ".join(parts) if parts else "clean (ASan, UBSan, LSan)"


# ---------------------------------------------------------------- fault sites


@functools.cache
def code_site(product: str, offset: int) -> tuple[str, str]:
    """(function, file:line) of an instruction of the built oracle; the
    innermost function when gcc inlined one into another."""
    tool = shutil.which("addr2line")
    if tool is None:
        return "?", "?"
    done = subprocess.run(
        [tool, "-f", "-i", "-e", product, hex(offset)], capture_output=True, text=True, timeout=60
    )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) < 2 or lines[0] == "??":
        return "?", "?"
    return lines[0], os.path.basename(lines[1].split(" ")[0])
