"""Build the compiled (mypyc) backend of `llmops.pii`: the detector's modules as C extensions.

    python -m llmops.pii.native          # build llmops/pii/_native/ unless it is up to date
    python -m llmops.pii.native status   # which backend `import llmops.pii` uses, and why
    python -m llmops.pii.native clean    # remove the build

`make setup` runs the build; when it fails (no C compiler, a mypyc error) the package uses its
pure-Python modules, which are the reference: correct, only slower. Whether a build is used is
decided at import by llmops/pii/backend.py, from the stamp this writes last.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from filelock import FileLock

from llmops.fileio import write_atomic
from llmops.pii.backend import (
    GROUP,
    NATIVE_DIR,
    PKG_DIR,
    PURE_ENV,
    SHARED_LIB,
    STAMP_NAME,
    abi_tag,
    forced_pure,
    read_stamp,
    stale_reason,
    stamp_text,
)

# Modules left as Python, and why. Every other llmops/pii/*.py is compiled.
NOT_COMPILED = {
    "__init__": "the package's face: it chooses the backend, so it loads before either",
    "backend": "the check that chooses the backend, run before any compiled module loads",
    "native": "this module: the build",
    "quality": "corpus evaluation for tests and benchmarks, not on the detector's hot path",
}

# Run in a child interpreter inside a scratch copy of the sources, so mypy sees the snapshot
# only, and setuptools' and the C compiler's chatter goes to the log, not the terminal.
_COMPILE = """
import sys
from mypyc.build import mypycify
from setuptools import setup

lib, temp, group, *paths = sys.argv[1:]
flags = ["--config-file", "mypy.ini", "--ignore-missing-imports"]
setup(
    name="llmops-pii-native",
    packages=[],
    py_modules=[],
    ext_modules=mypycify([*flags, *paths], group_name=group, target_dir="c"),
    script_args=["build_ext", "--build-lib", lib, "--build-temp", temp],
)
"""

# Load every compiled module from the new directory, as the package will, and detect something:
# a build that cannot import or run is never stamped.
_VERIFY = """
import importlib, sys, types
native, pkg_dir, *names = sys.argv[1:]
import llmops
pkg = types.ModuleType("llmops.pii")
pkg.__path__ = [native, pkg_dir]
sys.modules["llmops.pii"] = pkg
for name in names:
    module = importlib.import_module("llmops.pii." + name)
    assert module.__file__.startswith(native), (name, module.__file__)
from llmops.pii.detector import Detector
out = Detector().redact("Mail ann@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111")
assert "<EMAIL_ADDRESS>" in out and "<CREDIT_CARD>" in out and "<PHONE_NUMBER>" in out, out
"""


class BuildError(Exception):
    """The build failed; the message says why in one line."""


def compiled_modules(pkg_dir: str = PKG_DIR) -> list[str]:
    """The modules a build compiles: every .py of the package but NOT_COMPILED."""
    names = (f[:-3] for f in os.listdir(pkg_dir) if f.endswith(".py"))
    return sorted(n for n in names if n.isidentifier() and n not in NOT_COMPILED)


def mypy_version() -> str:
    try:
        return metadata.version("mypy")
    except metadata.PackageNotFoundError:
        raise BuildError("mypy (mypyc) is not installed: pip install -e '.[dev]'") from None


def _first_error(log: str) -> str:
    """The line of the build's output that says what went wrong: mypy's or the C compiler's
    "file:line: error: ...", setuptools' "error: command 'gcc' failed: ...", or an exception."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in lines:
        if ": error:" in ln or ln.startswith("error:") or re.match(r"\w+(Error|Exception)\b", ln):
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def _run(args: list[str], cwd: str, log: str, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", PURE_ENV)}
    with open(log, "a", encoding="utf-8") as out:
        shown = " ".join(a if "\n" not in a else "<script>" for a in args)
        out.write(f"\n$ {what}: {shown}\n")
        out.flush()
        done = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            raise BuildError(f"{what} failed: {_first_error(f.read())}")


def _snapshot(pkg_dir: str, src: str) -> dict[str, bytes]:
    """Copy the package's sources into `src`/llmops/pii, reading each once, and return the
    bytes of those to compile: what is compiled is what is stamped, even if a module is saved
    again mid-build (that build is then stale at once, and never used)."""
    dest = os.path.join(src, "llmops", "pii")
    os.makedirs(dest)
    with open(os.path.join(src, "llmops", "__init__.py"), "w", encoding="utf-8") as f:
        f.write('"""Stand-in for the llmops package: mypy needs its name only."""\n')
    wanted = set(compiled_modules(pkg_dir))
    sources: dict[str, bytes] = {}
    for name in os.listdir(pkg_dir):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(pkg_dir, name), "rb") as f:
            data = f.read()
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)
        if name[:-3] in wanted:
            sources[name[:-3]] = data
    return sources


def build(
    force: bool = False,
    native_dir: str = NATIVE_DIR,
    pkg_dir: str = PKG_DIR,
    log: str | None = None,
) -> str:
    """Compile the package's modules into `native_dir` unless a fresh build by this mypy is
    there already. Returns a one-line summary; raises BuildError (one line) on failure, with
    the compiler's full output in `log` (default: `native_dir` + ".log")."""
    log = log or native_dir + ".log"
    version = mypy_version()
    with FileLock(native_dir + ".lock"):  # two `make`s at once: the second finds it built
        stamp = read_stamp(native_dir)
        if (
            not force
            and stamp is not None
            and stamp[0].get("mypy") == version
            and stale_reason(native_dir, pkg_dir) is None
        ):
            return f"llmops.pii: the compiled build is up to date ({native_dir})"
        t0 = time.perf_counter()
        with open(log, "w", encoding="utf-8") as f:
            f.write(f"llmops.pii compiled build: mypy {version}, {sys.executable}\n")
        work = tempfile.mkdtemp(prefix="llmops-pii-native-")
        # On native_dir's file system, so the finished build moves in with one rename.
        staging = tempfile.mkdtemp(prefix=os.path.basename(native_dir) + ".", dir=pkg_dir)
        os.chmod(staging, 0o755)  # not mkdtemp's 0700: other users load the build too
        try:
            src = os.path.join(work, "src")
            sources = _snapshot(pkg_dir, src)
            if not sources:
                raise BuildError(f"no modules to compile in {pkg_dir}")
            with open(os.path.join(src, "mypy.ini"), "w", encoding="utf-8") as f:
                f.write("[mypy]\n")  # this config only: no user or project file interferes
            paths = [f"llmops/pii/{name}.py" for name in sorted(sources)]
            lib, temp = os.path.join(work, "lib"), os.path.join(work, "temp")
            _run([sys.executable, "-c", _COMPILE, lib, temp, GROUP, *paths], src, log, "mypyc")
            built = os.path.join(lib, *GROUP.split(".")[:-1])
            abi = abi_tag()
            for name in [*sources, SHARED_LIB]:
                if not os.path.exists(os.path.join(built, name + abi)):
                    raise BuildError(f"mypyc made no {name}{abi} (see {log})")
                shutil.move(os.path.join(built, name + abi), os.path.join(staging, name + abi))
            root = os.path.dirname(os.path.dirname(pkg_dir))  # where `import llmops` finds it
            args = [sys.executable, "-c", _VERIFY, staging, pkg_dir, *sorted(sources)]
            _run(args, root, log, "importing the compiled modules")
            # Swap it in: the old stamp goes first (nothing uses a half-replaced build) and the
            # new one last (a build interrupted before that line is never used).
            if os.path.exists(os.path.join(native_dir, STAMP_NAME)):
                os.unlink(os.path.join(native_dir, STAMP_NAME))
            shutil.rmtree(native_dir, ignore_errors=True)
            os.rename(staging, native_dir)
            write_atomic(Path(native_dir, STAMP_NAME), stamp_text(sources, version))
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(staging, ignore_errors=True)
        seconds = time.perf_counter() - t0
    summary = (
        f"llmops.pii: compiled {len(sources)} modules with mypyc {version} "
        f"in {seconds:.0f} s ({native_dir})"
    )
    reason = stale_reason(native_dir, pkg_dir)
    if reason is not None:  # a module was saved while we compiled: this build is not used
        summary += f"; not used: {reason} (saved during the build), the next `make` builds again"
    return summary


def clean(native_dir: str = NATIVE_DIR) -> None:
    if os.path.exists(os.path.join(native_dir, STAMP_NAME)):
        os.unlink(os.path.join(native_dir, STAMP_NAME))
    shutil.rmtree(native_dir, ignore_errors=True)
    for extra in (".log", ".lock"):
        if os.path.exists(native_dir + extra):
            os.unlink(native_dir + extra)


def status(native_dir: str = NATIVE_DIR, pkg_dir: str = PKG_DIR) -> str:
    """What `import llmops.pii` would load, and why (llmops.pii.BACKEND says what did)."""
    reason = stale_reason(native_dir, pkg_dir)
    if forced_pure():
        return f"python ({PURE_ENV} is set; the build: {reason or 'fresh'})"
    if reason is not None:
        return f"python ({reason})"
    stamp = read_stamp(native_dir)
    assert stamp is not None
    return f"compiled ({len(stamp[1])} modules, mypyc {stamp[0].get('mypy')}, {native_dir})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m llmops.pii.native", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("command", nargs="?", default="build", choices=("build", "status", "clean"))
    p.add_argument("--force", action="store_true", help="build even if up to date")
    args = p.parse_args(argv)
    if args.command == "status":
        print(status())
        return 0
    if args.command == "clean":
        clean()
        return 0
    try:
        print(build(force=args.force))
    except (BuildError, OSError) as e:  # OSError: a file system that refused a step
        print(
            f"llmops.pii: no compiled build ({e}); the pure-Python detector is used: "
            "correct, only slower",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
