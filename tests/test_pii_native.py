"""The compiled (mypyc) backend of llmops.pii: the same answers as pure Python, and never used
when it is stale. No test here compiles anything: the stamp logic is checked on fake builds, and
the real build (made by `make setup`) is compared with pure Python when it is present."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import llmops.pii
from llmops.pii import backend, native

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "pii" / "corpus.jsonl"
ABI = backend.abi_tag()


@pytest.fixture(autouse=True)
def _no_forced_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests set LLMOPS_PII_PURE themselves: one in the caller's environment (a run with
    LLMOPS_PII_PURE=1) must not decide for them."""
    monkeypatch.delenv(backend.PURE_ENV, raising=False)


def run_python(code: str, *, pure: bool, cwd: Path = ROOT) -> str:
    """Run `code` in a fresh interpreter (from `cwd`, so `import llmops` finds that tree)."""
    env = {k: v for k, v in os.environ.items() if k != backend.PURE_ENV}
    if pure:
        env[backend.PURE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def fresh_build_or_skip() -> None:
    reason = backend.stale_reason()
    if reason is not None:
        pytest.skip(f"no fresh compiled build ({reason}): run `make setup`")


# --- (a) the compiled detector answers exactly as the pure-Python one ------------------------

SCAN_CORPUS = f"""
import json
import llmops.pii as pii
import llmops.pii.detector as detector
from tests.test_pii_evasion import EVASIONS
texts = [json.loads(line)["text"] for line in open({str(CORPUS)!r}, encoding="utf-8")]
texts += [text for _, _, text, _ in EVASIONS]  # the normaliser's paths, too
plain, allowing = pii.get_detector(), pii.get_detector(allow=["+1 800 555 0199"])
print(json.dumps({{
    "backend": pii.BACKEND,
    "file": detector.__file__,
    "findings": [[[f.type, f.start, f.end, f.score] for f in plain.scan(t)] for t in texts],
    "redacted": [pii.redact(t) for t in texts],
    "allowed": [allowing.redact(t) for t in texts],
    "echoed": [
        [[f.type, f.start, f.end, f.score] for f in plain.scan(t, context=texts[i - 3 : i])]
        for i, t in enumerate(texts[:600])
    ],
}}))
"""


def test_compiled_and_pure_python_find_and_redact_the_same() -> None:
    fresh_build_or_skip()
    compiled = json.loads(run_python(SCAN_CORPUS, pure=False))
    pure = json.loads(run_python(SCAN_CORPUS, pure=True))
    assert compiled["backend"] == "compiled" and compiled["file"].endswith(ABI)
    assert pure["backend"] == "python" and pure["file"].endswith(".py")
    assert sum(map(len, pure["findings"])) > 1000  # the corpus is full of PII: a real test
    for key in ("findings", "redacted", "allowed", "echoed"):
        assert len(compiled[key]) == len(pure[key]), key
        diffs = [i for i, (a, b) in enumerate(zip(compiled[key], pure[key], strict=True)) if a != b]
        assert not diffs, (key, diffs[:5])


def test_call_counting_tests_pass_in_pure_python() -> None:
    """test_pii_linear counts the detector's work, and test_pii_phonemeta records its phone
    checks, by patching its functions, which compiled code calls directly (unpatched): with the
    compiled build live, run them in pure Python."""
    if llmops.pii.BACKEND != "compiled":
        pytest.skip("pure Python is live: the normal run of test_pii_linear.py covers it")
    code = (
        "import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
        "'tests/test_pii_linear.py', 'tests/test_pii_phonemeta.py', "
        "'-k', 'work_grows or detectors_calls_on_the_corpus']))"
    )
    out = run_python(code, pure=True)
    # Every selected test ran and passed (their number grows as the linear-time tests do).
    assert re.search(r"\b\d+ passed", out) and "failed" not in out and "error" not in out, out


# --- (b) a stale build is never used -----------------------------------------------------------

SOURCES = {"alpha": b"X = 1\n", "beta": b"def f() -> int:\n    return 2\n"}


def fake_build(tmp_path: Path, sources: dict[str, bytes] = SOURCES) -> tuple[Path, Path]:
    """A package of `sources` and a build of them that is fresh: what `native.build` leaves,
    with empty files in place of the extensions."""
    pkg = tmp_path / "pkg"
    built = pkg / "_native"
    built.mkdir(parents=True)
    for name, data in sources.items():
        (pkg / f"{name}.py").write_bytes(data)
        (built / f"{name}{ABI}").write_bytes(b"")
    (built / f"{backend.SHARED_LIB}{ABI}").write_bytes(b"")
    (built / backend.STAMP_NAME).write_text(backend.stamp_text(sources, "test"), encoding="utf-8")
    return pkg, built


def test_a_fresh_build_goes_first_on_the_package_path(tmp_path: Path) -> None:
    pkg, built = fake_build(tmp_path)
    assert backend.stale_reason(str(built), str(pkg)) is None
    path = [str(pkg)]
    assert backend.activate(path, str(built), str(pkg)) == "compiled"
    assert backend.activate(path, str(built), str(pkg)) == "compiled"
    assert path == [str(built), str(pkg)]  # once, however often the package is imported


def stamp_of(built: Path) -> str:
    return (built / backend.STAMP_NAME).read_text(encoding="utf-8")


STALE = {
    "a module edited": (
        lambda pkg, built: (pkg / "beta.py").write_bytes(SOURCES["beta"] + b"# tuned\n"),
        "beta.py changed since the build",
    ),
    "a module deleted": (lambda pkg, built: (pkg / "alpha.py").unlink(), "alpha.py is gone"),
    "no stamp (a build cut short)": (
        lambda pkg, built: (built / backend.STAMP_NAME).unlink(),
        "no compiled build",
    ),
    "another interpreter": (
        lambda pkg, built: (built / backend.STAMP_NAME).write_text(
            stamp_of(built).replace(ABI, ".cpython-399-x86_64-linux-gnu.so")
        ),
        "built for .cpython-399",
    ),
    "a stamp of another format": (
        lambda pkg, built: (built / backend.STAMP_NAME).write_text("llmops-pii-native 0\n"),
        "no compiled build",
    ),
    "a stamp listing no module": (
        lambda pkg, built: (built / backend.STAMP_NAME).write_text(
            "".join(ln for ln in stamp_of(built).splitlines(True) if not ln.startswith("module"))
        ),
        "lists no modules",
    ),
    "an extension missing": (
        lambda pkg, built: (built / f"beta{ABI}").unlink(),
        f"beta{ABI} is missing",
    ),
    "the shared library missing": (
        lambda pkg, built: (built / f"{backend.SHARED_LIB}{ABI}").unlink(),
        f"{backend.SHARED_LIB}{ABI} is missing",
    ),
    "a stamp that is not text": (
        lambda pkg, built: (built / backend.STAMP_NAME).write_bytes(b"\xff\xfe\x00"),
        "no compiled build",
    ),
}


@pytest.mark.parametrize("case", sorted(STALE))
def test_a_stale_build_is_not_used(tmp_path: Path, case: str) -> None:
    pkg, built = fake_build(tmp_path)
    spoil, why = STALE[case]
    spoil(pkg, built)
    reason = backend.stale_reason(str(built), str(pkg))
    assert reason is not None and why in reason
    path = [str(pkg)]
    assert backend.activate(path, str(built), str(pkg)) == "python"
    assert path == [str(pkg)]


def test_freshness_is_the_bytes_not_the_file_times(tmp_path: Path) -> None:
    pkg, built = fake_build(tmp_path)
    (pkg / "alpha.py").write_bytes(b"X = 2\n")
    assert backend.stale_reason(str(built), str(pkg)) == "alpha.py changed since the build"
    (pkg / "alpha.py").write_bytes(SOURCES["alpha"])  # undone: newer file, the same bytes
    os.utime(pkg / "alpha.py", (1e9, 1e9))
    assert backend.stale_reason(str(built), str(pkg)) is None


def test_modules_the_build_did_not_compile_do_not_matter(tmp_path: Path) -> None:
    pkg, built = fake_build(tmp_path)
    (pkg / "quality.py").write_text("Y = 3\n")  # not compiled: loads as Python either way
    assert backend.stale_reason(str(built), str(pkg)) is None


def copy_package(dest: Path) -> Path:
    """The llmops/pii sources and build, copied under `dest` (as a clone would have them)."""
    pkg = dest / "llmops" / "pii"
    shutil.copytree(backend.PKG_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.lock"))
    shutil.copy(ROOT / "llmops" / "__init__.py", dest / "llmops" / "__init__.py")
    return pkg


WHICH = "import llmops.pii as p, llmops.pii.detector as d; print(p.BACKEND, d.__file__)"


def test_editing_a_module_of_a_real_build_makes_the_package_load_python(tmp_path: Path) -> None:
    fresh_build_or_skip()
    pkg = copy_package(tmp_path)
    used, file = run_python(WHICH, pure=False, cwd=tmp_path).split()
    assert used == "compiled" and file == str(pkg / "_native" / f"detector{ABI}")
    with open(pkg / "detector.py", "a", encoding="utf-8") as f:
        f.write("\n# a tuning edit, not compiled yet\n")
    used, file = run_python(WHICH, pure=False, cwd=tmp_path).split()
    assert used == "python" and file == str(pkg / "detector.py")


# --- (c) LLMOPS_PII_PURE=1 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [("1", "python"), ("0", "compiled"), ("", "compiled")]
)
def test_the_environment_can_force_pure_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    pkg, built = fake_build(tmp_path)
    monkeypatch.setenv(backend.PURE_ENV, value)
    path = [str(pkg)]
    assert backend.activate(path, str(built), str(pkg)) == expected
    assert (str(built) in path) == (expected == "compiled")


def test_the_environment_forces_pure_python_on_import() -> None:
    used, file = run_python(WHICH, pure=True).split()
    assert used == "python" and file.endswith(os.path.join("llmops", "pii", "detector.py"))


# --- the build's choices -----------------------------------------------------------------------


def test_every_module_is_compiled_or_has_a_reason_not_to_be() -> None:
    modules = {p.stem for p in Path(backend.PKG_DIR).glob("*.py")}
    compiled = set(native.compiled_modules())
    assert {"detector", "phone", "context", "finding"} <= compiled
    assert compiled | set(native.NOT_COMPILED) == modules
    assert not compiled & set(native.NOT_COMPILED)


def test_a_failing_build_says_why_in_one_line_and_leaves_what_was_there(tmp_path: Path) -> None:
    pkg, built = fake_build(tmp_path, {"alpha": b"X: int = 'one'\n"})
    before = stamp_of(built)
    log = tmp_path / "build.log"
    with pytest.raises(native.BuildError) as err:
        native.build(force=True, native_dir=str(built), pkg_dir=str(pkg), log=str(log))
    message = str(err.value)
    assert "\n" not in message and "alpha.py:1: error: Incompatible types" in message
    assert "alpha.py:1: error" in log.read_text()
    assert stamp_of(built) == before  # the previous build, untouched
    assert sorted(p.name for p in pkg.iterdir() if p.name.startswith("_native")) == [
        "_native",
        "_native.lock",
    ]  # no staging directory left behind
