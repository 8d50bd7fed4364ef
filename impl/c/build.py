"""Building the C oracle: the unmodified seed, compiled against the shim.

The seed is read from where the user says (``--c PATH``, else
``$RMAP_SEED``, else ``<repo>/seed/rmap.c`` or ``<repo>/../shared/seed/rmap.c``)
and compiled as it is: the build's only addition around its text is the
ten ``#include`` lines it lost, given to the compiler as ``-include``
options (``SEED_INCLUDES``).  The shim (impl/c/*.c, impl/c/include/) is
compiled beside it and linked into one shared library, or, for the
sanitizer build, into one executable (driver.c) that the Python side runs
as a subprocess.  Products are cached in ``$RMAP_C_CACHE`` (default
``<repo>/.cache/c-oracle``) under the SHA-256 of the seed, the shim, the
flags and the compiler's version, so a changed input rebuilds (an
installed copy, which has no clone around it, caches in
``$XDG_CACHE_HOME/rmap-verify/c-oracle``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INCLUDE = HERE / "include"
SHIM_SOURCES = ("shim.c", "callers.c", "protocol.c")
DRIVER = "driver.c"
DEFAULT_SEEDS = (ROOT / "seed" / "rmap.c", ROOT.parent / "shared" / "seed" / "rmap.c")

# The ten #include lines of 2.5.31's mm/rmap.c, whose header names the seed
# lost; the shim's headers of these names all bring in shim/kernel.h.
SEED_INCLUDES = (
    "linux/mm.h",
    "linux/pagemap.h",
    "linux/swapops.h",
    "linux/slab.h",
    "linux/init.h",
    "asm/pgalloc.h",
    "asm/rmap.h",
    "asm/smplock.h",
    "asm/tlb.h",
    "asm/tlbflush.h",
)

# The kernel's own choices where they change what the code does
# (-fno-strict-aliasing; no assumption that a dereferenced pointer is not
# NULL), -O2 as the kernel built, and no inlining so that a fault is
# attributed to the function the port names.
CFLAGS = (
    "-std=gnu11",
    "-O2",
    "-g",
    "-fno-strict-aliasing",
    "-fno-delete-null-pointer-checks",
    "-fno-inline",
    "-fno-omit-frame-pointer",
    "-fPIC",
)
SANITIZE = ("-fsanitize=address,undefined", "-DSHIM_SANITIZE")
DEBUG_RMAP = ("-DDEBUG_RMAP",)


class BuildError(Exception):
    """The oracle cannot be built; the message is one line saying why."""


class NoSeed(BuildError):
    """No seed was given and none is at a default place: a clone without one (the repository
    may not hold it), not a broken set-up."""


@dataclass(frozen=True)
class Build:
    """What a build made: the library (in-process) or the driver (sanitizer)."""

    seed: Path
    product: Path
    sanitize: bool


def find_seed(path: str | None = None) -> Path:
    """The seed file to compile: ``path``, ``$RMAP_SEED`` or a default place."""
    given = path or os.environ.get("RMAP_SEED")
    if given:
        seed = Path(given).expanduser()
    else:
        found = next((p for p in DEFAULT_SEEDS if p.is_file()), None)
        if found is None:
            raise NoSeed(
                "no seed: give --c PATH or set RMAP_SEED (looked at "
                + ", ".join(str(p) for p in DEFAULT_SEEDS)
                + ")"
            )
        seed = found
    if not seed.is_file():
        what = "not a regular file" if seed.exists() else "no such file"
        raise BuildError(f"{seed}: not a C file ({what})")
    if seed.suffix != ".c":
        raise BuildError(f"{seed}: not a C file (the name does not end in .c)")
    try:
        text = seed.read_bytes()
    except OSError as why:
        raise BuildError(f"{seed}: cannot read it: {why.strerror}") from None
    if b"\0" in text:  # gcc reads any other bytes (Latin-1 in a comment, say) as they are
        raise BuildError(f"{seed}: not a C file (binary data)")
    return seed


def compiler() -> str:
    """The C compiler: ``$CC`` if set, else cc or gcc on PATH."""
    wanted = os.environ.get("CC")
    for name in [wanted] if wanted else ["cc", "gcc"]:
        found = shutil.which(name)
        if found:
            return found
    raise BuildError(f"no C compiler ({'$CC=' + wanted if wanted else 'cc, gcc'} not found)")


@functools.cache
def _compiler_version(cc: str) -> str:
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as why:
        raise BuildError(f"{cc} does not run: {why.strerror}") from None
    if done.returncode != 0:
        raise BuildError(f"{cc} --version failed")
    return done.stdout


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BuildError(f"no {name} (binutils) on PATH")
    return found


def cache_dir() -> Path:
    """``$RMAP_C_CACHE``, else .cache/c-oracle in the clone, else (an installed
    copy) rmap-verify/c-oracle in the user's cache directory."""
    given = os.environ.get("RMAP_C_CACHE")
    if given:
        return Path(given)
    if (ROOT / "pyproject.toml").is_file():
        return ROOT / ".cache" / "c-oracle"
    user = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(user) / "rmap-verify" / "c-oracle"


def _shim_files() -> list[Path]:
    return sorted([*HERE.glob("*.c"), *INCLUDE.rglob("*.h"), Path(__file__)])


def _key(seed: Path, cc: str, flags: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for part in (seed.read_bytes(), _compiler_version(cc).encode(), "\0".join(flags).encode()):
        h.update(len(part).to_bytes(8, "little") + part)
    for path in _shim_files():
        h.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def _run(argv: list[str], what: str, log: Path) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as why:
        raise BuildError(f"{what}: {argv[0]} did not run ({why})") from None
    with log.open("a", encoding="utf-8") as out:
        out.write(" ".join(argv) + "\n" + done.stdout + done.stderr)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).splitlines()
        # the first error; the linker's own (undefined reference to `x') before collect2's summary
        said = [line for line in lines if "error" in line or "undefined reference" in line]
        first = next((line for line in said if not line.startswith("collect2")), None)
        first = first or (said or lines or ["no output"])[0]
        raise BuildError(f"{what}: {first.strip()}")


def build(seed: Path, *, sanitize: bool = False, debug_rmap: bool = False) -> Build:
    """The library (or, with ``sanitize``, the driver) for ``seed``, from the
    cache when it was built before."""
    cc = compiler()
    flags = CFLAGS + (SANITIZE if sanitize else ()) + (DEBUG_RMAP if debug_rmap else ())
    key = _key(seed, cc, flags)
    name = "oracle-driver" if sanitize else "liboracle.so"
    final = cache_dir() / key
    if (final / name).is_file():
        return Build(seed, final / name, sanitize)
    objcopy = _tool("objcopy")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=final.parent))
    try:
        _compile(work, seed, cc, objcopy, flags, name, sanitize)
        (work / "KEY").write_text(f"{seed}\n{' '.join(flags)}\n", encoding="utf-8")
        work.rename(final)
    except OSError:
        if not (final / name).is_file():  # else a concurrent build got there first
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Build(seed, final / name, sanitize)


def _compile(
    work: Path, seed: Path, cc: str, objcopy: str, flags: tuple[str, ...], name: str, sanitize: bool
) -> None:
    log = work / "build.log"
    includes = [arg for h in SEED_INCLUDES for arg in ("-include", h)]
    seed_obj = work / "seed.o"
    _run(
        [cc, *flags, "-I", str(INCLUDE), *includes, "-c", str(seed), "-o", str(seed_obj)],
        f"{seed} does not compile",
        log,
    )
    # The harness calls the seed's static try_to_unmap_one (a raw trace op).
    _run([objcopy, "--globalize-symbol=try_to_unmap_one", str(seed_obj)], "objcopy failed", log)
    objects = [seed_obj]
    for source in SHIM_SOURCES + ((DRIVER,) if sanitize else ()):
        obj = work / source.replace(".c", ".o")
        _run(
            [cc, *flags, "-I", str(INCLUDE), "-c", str(HERE / source), "-o", str(obj)],
            "the shim does not compile",
            log,
        )
        objects.append(obj)
    shared = [] if sanitize else ["-shared", "-Wl,-z,defs"]
    _run(
        [cc, *flags, *shared, "-o", str(work / name), *map(str, objects), "-ldl", "-lpthread"],
        f"{seed} does not link",
        log,
    )
    for obj in objects:
        obj.unlink()
