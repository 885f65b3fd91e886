"""Which implementation of `llmops.pii` loads: the compiled build (mypyc) or pure Python.

Pure Python is the reference and always correct; a compiled build (made by
`python -m llmops.pii.native` into llmops/pii/_native/) only makes it faster. It is used only
while its stamp matches the bytes of every module it compiled and this interpreter's
extension ABI: an edited module, or a half-finished build (the stamp is written last), makes the
package load the pure-Python modules, never a stale extension. `LLMOPS_PII_PURE=1` forces
pure Python.

`llmops/pii/__init__.py` calls `activate(__path__)` before it imports any other module of the
package, so this module imports only what the check needs; the check takes well under 1 ms.
"""

from __future__ import annotations

import hashlib
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES

PKG_DIR = os.path.dirname(os.path.abspath(__file__))
# Beside the sources, not among them: a git-ignored directory of extension files and their
# stamp, swapped in whole by each build.
NATIVE_DIR = os.path.join(PKG_DIR, "_native")
STAMP_NAME = "STAMP"
STAMP_FORMAT = "llmops-pii-native 1"
PURE_ENV = "LLMOPS_PII_PURE"
# mypyc's group: one shared library, `llmops.pii.native__mypyc`, which every module's small
# shim extension imports by that name. Python finds it on the package's __path__ like the shims,
# so nothing lands at the top level of sys.path.
GROUP = "llmops.pii.native"
SHARED_LIB = GROUP.rsplit(".", 1)[1] + "__mypyc"


def abi_tag() -> str:
    """The extension suffix this interpreter loads (".cpython-311-x86_64-linux-gnu.so"): its
    implementation, version, ABI flags and platform, the things a build is tied to."""
    return EXTENSION_SUFFIXES[0]


def source_digest(source: bytes) -> str:
    return hashlib.sha256(source).hexdigest()


def stamp_text(sources: dict[str, bytes], mypy_version: str, abi: str | None = None) -> str:
    """The stamp of a build of `sources` (module name -> the exact bytes compiled)."""
    lines = [
        STAMP_FORMAT,
        f"abi {abi or abi_tag()}",
        f"mypy {mypy_version}",
        f"python {sys.version.split()[0]}",
    ]
    lines += [f"module {name} {source_digest(sources[name])}" for name in sorted(sources)]
    return "\n".join(lines) + "\n"


def read_stamp(native_dir: str = NATIVE_DIR) -> tuple[dict[str, str], dict[str, str]] | None:
    """(fields, module name -> sha256) of the stamp in `native_dir`; None if there is none or
    it is not in the format this version writes."""
    try:
        with open(os.path.join(native_dir, STAMP_NAME), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != STAMP_FORMAT:
        return None
    fields: dict[str, str] = {}
    modules: dict[str, str] = {}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        if key == "module":
            name, _, digest = value.partition(" ")
            modules[name] = digest
        else:
            fields[key] = value
    return fields, modules


def stale_reason(native_dir: str = NATIVE_DIR, pkg_dir: str = PKG_DIR) -> str | None:
    """None when the build in `native_dir` was made from exactly the sources now in `pkg_dir`
    for this interpreter; otherwise why it must not be used."""
    stamp = read_stamp(native_dir)
    if stamp is None:
        return "no compiled build"
    fields, modules = stamp
    abi = abi_tag()
    if fields.get("abi") != abi:
        return f"built for {fields.get('abi')}, this interpreter loads {abi}"
    if not modules:
        return "the stamp lists no modules"
    for name, digest in modules.items():
        try:
            with open(os.path.join(pkg_dir, name + ".py"), "rb") as f:
                source = f.read()
        except OSError:
            return f"{name}.py is gone since the build"
        if source_digest(source) != digest:
            return f"{name}.py changed since the build"
    # All or nothing: a compiled module handed a pure-Python module's objects fails its checks.
    for name in [*modules, SHARED_LIB]:
        if not os.path.exists(os.path.join(native_dir, name + abi)):
            return f"{name}{abi} is missing from the build"
    return None


def forced_pure() -> bool:
    return os.environ.get(PURE_ENV, "").strip() not in ("", "0")


def activate(path: list[str], native_dir: str = NATIVE_DIR, pkg_dir: str = PKG_DIR) -> str:
    """Put a fresh build first on the package's `path` (its __path__) and return "compiled";
    return "python" and leave `path` alone when the build is stale, missing or refused."""
    if forced_pure():
        return "python"
    try:
        fresh = stale_reason(native_dir, pkg_dir) is None
    except Exception:  # a broken build must never break the import: pure Python is correct
        fresh = False
    if not fresh:
        return "python"
    if native_dir not in path:
        path.insert(0, native_dir)
    return "compiled"
