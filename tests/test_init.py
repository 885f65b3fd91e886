"""`llmops init`: what it writes, that a second run changes nothing, that a user's file is never
overwritten without --force, that pyproject.toml is merged with its tables and comments kept,
and that the scaffolded project runs `pytest evals/` against a bot of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmops.cli import main
from llmops.scaffold import CI_FILES, FILES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]

USER_PYPROJECT = """\
# The team's own project file: nothing here may change but the new [tool.llmops].
[project]
name = "mybot"   # our bot
version = "1.2.3"

[tool.black]
line-length = 88  # house style

# deployment settings
[tool.mybot]
region = "eu"
"""

BOT = '''\
def reply(messages):
    """A small bot: greets, and declines to talk about other customers."""
    text = messages[-1]["content"].lower()
    if "neighbour" in text or "another customer" in text:
        return "Sorry, I can't share another customer's details."
    return "Hello! I can help you with your orders and deliveries."
'''


def init(root: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["init", "--dir", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts
    }


def test_init_in_an_empty_directory_writes_what_a_team_needs(tmp_path, capsys) -> None:
    code, out, err = init(tmp_path, capsys=capsys)
    assert code == 0, err
    written = set(snapshot(tmp_path))
    assert written == {*FILES, "pyproject.toml", ".gitignore"}
    # the evals hold no check code: one import of the package's tests, as in this repository
    evals = (tmp_path / "evals" / "test_llmops.py").read_text()
    assert evals == (REPO / "evals" / "test_llmops.py").read_text()
    code_lines = [ln for ln in evals.splitlines() if ln and not ln.startswith(("#", '"""'))]
    imports = [ln for ln in code_lines if "import" in ln]
    assert imports == ["from llmops.suite import *  # noqa: F403"]
    config = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["llmops"]
    assert config["target"] == "reference" and config["cases"] == "cases"
    assert (tmp_path / ".gitignore").read_text().splitlines()[1:] == ["reports/", "logs/"]
    cases = yaml.safe_load((tmp_path / "cases" / "starter.yaml").read_text())["cases"]
    assert {c["id"] for c in cases} == {"greeting", "other-customer-data", "latency-budget"}
    # what it did, and the next three commands
    for path in written:
        assert f"create    {path}" in out
    next_lines = out.split("next:\n", 1)[1].splitlines()
    assert [ln.split("#")[0].strip() for ln in next_lines] == [
        "pytest evals/", "llmops gate", "git add -A && git commit -m 'llmops evals'"
    ]
    assert main(["cases", "validate", str(tmp_path / "cases")]) == 0


def test_a_second_run_changes_nothing(tmp_path, capsys) -> None:
    assert init(tmp_path, "--ci", "github", "--target", "python:mybot:reply", capsys=capsys)[0] == 0
    before = snapshot(tmp_path)
    mtimes = {p: (tmp_path / p).stat().st_mtime_ns for p in before}
    code, out, _ = init(tmp_path, "--ci", "github", "--target", "python:mybot:reply",
                        capsys=capsys)
    assert code == 0 and "nothing to do" in out
    assert snapshot(tmp_path) == before
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in before} == mtimes
    # without the options it is just as quiet (it does not take the workflows away)
    code, out, _ = init(tmp_path, capsys=capsys)
    assert code == 0 and "nothing to do" in out and snapshot(tmp_path) == before


def test_pyproject_is_merged_keeping_every_table_and_comment(tmp_path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text(USER_PYPROJECT)
    code, out, _ = init(tmp_path, "--target", "http://127.0.0.1:8000/v1", capsys=capsys)
    assert code == 0
    assert "update    pyproject.toml" in out
    text = (tmp_path / "pyproject.toml").read_text()
    data = tomllib.loads(text)
    original = tomllib.loads(USER_PYPROJECT)
    assert data["project"] == original["project"]
    assert data["tool"]["black"] == original["tool"]["black"]
    assert data["tool"]["mybot"] == original["tool"]["mybot"]
    assert data["tool"]["llmops"]["target"] == "http://127.0.0.1:8000/v1"
    # every line of the user's file is still there, in its order, comments included
    lines = iter(text.splitlines())
    assert all(any(line == got for got in lines) for line in USER_PYPROJECT.splitlines())


def test_a_users_file_is_never_overwritten_without_force(tmp_path, capsys) -> None:
    (tmp_path / "evals").mkdir()
    mine = "def test_mine():\n    assert True\n"
    (tmp_path / "evals" / "test_llmops.py").write_text(mine)
    code, out, err = init(tmp_path, "--ci", "github", capsys=capsys)
    assert code == 2
    assert "evals/test_llmops.py: exists and differs" in err and "--force" in err
    # nothing at all was written: not the files without conflict either
    assert snapshot(tmp_path) == {"evals/test_llmops.py": mine.encode()}
    code, out, err = init(tmp_path, "--force", capsys=capsys)
    assert code == 0, err
    assert "replace   evals/test_llmops.py" in out
    assert (tmp_path / "evals" / "test_llmops.py").read_text() == (
        REPO / "evals" / "test_llmops.py").read_text()


def test_a_different_target_is_a_conflict_and_force_sets_only_the_target(tmp_path,
                                                                         capsys) -> None:
    assert init(tmp_path, capsys=capsys)[0] == 0
    before = (tmp_path / "pyproject.toml").read_text()
    code, _, err = init(tmp_path, "--target", "cmd:./bot.sh", capsys=capsys)
    assert code == 2 and "pyproject.toml: [tool.llmops] target is 'reference'" in err
    assert (tmp_path / "pyproject.toml").read_text() == before
    assert init(tmp_path, "--target", "cmd:./bot.sh", "--force", capsys=capsys)[0] == 0
    after = (tmp_path / "pyproject.toml").read_text()
    assert after == before.replace('target = "reference"', 'target = "cmd:./bot.sh"')


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({"pyproject.toml": "[project]\nname = \n"}, (), "pyproject.toml:2:"),
        ({"pyproject.toml": "tool = {black = {x = 1}}\n"}, (), "cannot add [tool.llmops]"),
        ({"pyproject.toml": "tool = 3\n"}, (), "pyproject.toml: `tool` is not a table"),
        ({".gitignore": b"caf\xe9\n"}, (), ".gitignore: not UTF-8"),
        ({"evals/test_llmops.py/x": "dir"}, (), "evals/test_llmops.py: exists and is not a file"),
        ({"cases": "a file"}, (), "cases/starter.yaml: cases is not a directory"),
        ({}, ("--target", "ftp://bot"), "unknown target 'ftp://bot'"),
        ({}, ("--target", "python:nocolon"), "unknown target"),
        ({}, ("--target", "https://me:s3cret@bot.example/v1"), "holds a credential"),
        ({}, ("--target", "https://bot.example/v1?api_key=abc"), "LLMOPS_API_KEY"),
    ],
)
def test_bad_input_exits_2_naming_the_file_and_writes_nothing(tmp_path, capsys, files, args,
                                                              message) -> None:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = snapshot(tmp_path)
    code, _, err = init(tmp_path, *args, capsys=capsys)
    assert code == 2
    assert message in err
    assert "s3cret" not in err and "abc" not in err
    assert snapshot(tmp_path) == before


def test_gitignore_gets_only_the_missing_entries(tmp_path, capsys) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\n/reports")  # no final newline
    assert init(tmp_path, capsys=capsys)[0] == 0
    assert (tmp_path / ".gitignore").read_text() == (
        "*.pyc\n/reports\n\n# llmops: generated reports and monitoring logs\nlogs/\n"
    )


def test_ci_github_writes_valid_workflows_wired_to_each_other(tmp_path, capsys) -> None:
    assert init(tmp_path, "--ci", "github", capsys=capsys)[0] == 0
    paths = [tmp_path / p for p in CI_FILES["github"]]
    exe = Path(sys.executable).parent / "check-jsonschema"
    command = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    assert command, "check-jsonschema is missing: install the dev extra"
    proc = subprocess.run(
        [command, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def load(p: Path) -> dict:
        doc = yaml.safe_load(p.read_text())
        doc["on"] = doc.pop(True, doc.get("on"))
        return doc

    evals, promote, rollback = (load(p) for p in paths)
    assert set(evals["on"]) == {"pull_request", "push", "workflow_dispatch"}
    # A matrix of shards (N: an input with a default), then one job that merges and gates.
    shards = evals["on"]["workflow_dispatch"]["inputs"]["shards"]
    assert shards["type"] == "number" and shards["default"] >= 1
    job = evals["jobs"]["evals"]
    assert job["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}"
    assert job["strategy"]["fail-fast"] is False
    runs = [s.get("run", "") for s in job["steps"]]
    assert any('pytest evals/ --shard "$SHARD"' in r for r in runs)

    def upload(steps: list) -> dict:
        [found] = [s for s in steps
                   if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
        assert found["if"] == "always()"
        return found

    assert upload(job["steps"])["with"]["name"] == "eval-shard-${{ matrix.shard }}"
    gate = evals["jobs"]["gate"]
    assert set(gate["needs"]) == {"plan", "evals"}
    runs = [s.get("run", "") for s in gate["steps"]]
    assert "llmops results merge shards/*/results.json -o reports/results.json" in runs
    assert any(r.startswith("llmops gate reports/results.json") for r in runs)
    assert upload(gate["steps"])["with"]["name"] == "eval-reports"
    assert promote["on"]["workflow_run"]["workflows"] == [evals["name"]]
    assert "llmops promote --ref" in promote["jobs"]["promote"]["steps"][-1]["run"]
    assert promote["jobs"]["promote"]["permissions"]["contents"] == "write"
    assert evals["permissions"] == {"contents": "read"}
    assert "llmops rollback" in str(rollback["jobs"]["rollback"]["steps"])
    from llmops import __version__

    for doc in (evals, promote, rollback):
        assert doc["env"]["LLMOPS_PIP"] == f"llmops=={__version__}"


def test_the_scaffolded_project_evaluates_its_own_python_bot(tmp_path, capsys) -> None:
    """No conftest.py, no sys.path tricks: `python:` imports from the project root."""
    (tmp_path / "pyproject.toml").write_text(USER_PYPROJECT)
    (tmp_path / "mybot.py").write_text(BOT)
    assert init(tmp_path, "--target", "python:mybot:reply", capsys=capsys)[0] == 0
    # a test of the team's own judges `refuses` its way; the packaged one then stands down
    (tmp_path / "evals" / "test_own.py").write_text(
        "import pytest\n\n\n@pytest.mark.llmops_check('refuses')\n"
        "def test_declines(check):\n    check()\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LLMOPS_TARGET", "PYTHONPATH")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "PASSED evals/test_llmops.py::test_not_empty[starter/greeting]" in run.stdout
    assert "PASSED evals/test_own.py::test_declines[starter/other-customer-data]" in run.stdout
    assert "test_llmops.py::test_refuses" not in run.stdout
    import json

    doc = json.loads((tmp_path / "reports" / "results.json").read_text())
    checks = [(r["case_id"], r["check"]) for r in doc["results"]]
    assert len(checks) == len(set(checks))  # no check judged twice
    assert ("other-customer-data", "refuses") in checks
    assert doc["run"]["target"] == "python:mybot:reply"
    assert doc["summary"]["failed"] == 0 and doc["summary"]["cases"] == 3


def test_pytest_evals_before_init_says_to_run_init(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text(USER_PYPROJECT)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 4  # pytest's usage error
    assert "run `llmops init`" in run.stderr
    assert not (tmp_path / "reports").exists()
