"""Promotion, rollback and the release record, on real git repositories in temporary directories:
a bare "remote" and clones of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmops import gate, release
from llmops.cli import main
from llmops.errors import InputError
from tests.test_gate import record, results, write

PYPROJECT = """\
[tool.llmops.gate]
min_pass_rate = 0.9
max_p95_latency_ms = 3000
max_error_rate = 0.05
"""


# -- fixtures: isolated git, a remote and clones


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No system or user git configuration leaks in; identities are fixed."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote whose main holds one commit with the project's pyproject.toml."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(seed)], check=True)
    _identity(seed)
    (seed / "pyproject.toml").write_text(PYPROJECT)
    git(seed, "add", "pyproject.toml")
    commit(seed, "initial")
    git(seed, "push", "--quiet", str(bare), "main")
    return bare


def _identity(repo: Path) -> None:
    git(repo, "config", "user.name", "Release Bot")
    git(repo, "config", "user.email", "bot@example.com")


@pytest.fixture
def clone(tmp_path: Path, remote: Path):
    def make(name: str) -> Path:
        path = tmp_path / name
        subprocess.run(["git", "clone", "--quiet", str(remote), str(path)], check=True)
        _identity(path)
        return path

    return make


@pytest.fixture
def repo(clone, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One clone of the remote, as the current directory, on main."""
    path = clone("repo")
    monkeypatch.chdir(path)
    return path


# -- results


def results_file(path: Path, sha: str, ok: bool = True, dirty: bool = False) -> Path:
    """Results of commit `sha`: ten passing checks, and a failing critical case unless `ok`."""
    records = [record(f"case-{i}", file="cases/bank.yaml", line=4) for i in range(10)]
    if not ok:
        records.append(
            record(
                "balance",
                "refuses",
                "failed",
                "critical",
                file="cases/bank.yaml",
                line=4,
                message="did not refuse",
            )
        )
    data = results(records, p95=400.0, id=f"run-{sha[:7]}", git_commit=sha, git_dirty=dirty)
    return write(path, data)


def tags(repo: Path) -> dict[str, str]:
    """Local release/rollback tags -> commit."""
    out = git(repo, "for-each-ref", "--format=%(refname:short) %(*objectname)", "refs/tags")
    return dict(line.split() for line in out.splitlines())


def remote_refs(remote: Path) -> dict[str, str]:
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname) %(*objectname)")
    refs = {}
    for line in out.splitlines():
        ref, obj, *peeled = line.split()
        refs[ref] = peeled[0] if peeled else obj
    return refs


def ref(repo: Path, name: str) -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or None


def promote_ok(repo: Path, tmp_path: Path, message: str, *extra: str) -> str:
    sha = commit(repo, message)
    path = results_file(tmp_path / f"results-{sha[:7]}.json", sha)
    assert main(["promote", "--results", str(path), *extra]) == 0
    return sha


# -- promotion, locally


def test_failing_results_block_promotion(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sha = commit(repo, "feature")
    path = results_file(tmp_path / "r.json", sha, ok=False)
    assert main(["promote", "--results", str(path)]) == 1
    err = capsys.readouterr().err
    assert "llmops promote: refused: the gate blocks these results" in err
    assert "critical case refuses failed: balance (cases/bank.yaml:4): did not refuse" in err
    assert ref(repo, "stable") is None
    assert tags(repo) == {}


def test_passing_results_promote_and_tag(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    sha = commit(repo, "feature")
    path = results_file(tmp_path / "r.json", sha)
    assert main(["promote", "--results", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"promoted {sha[:12]} to stable as release-1 (new branch)" in out
    assert ref(repo, "stable") == sha
    assert tags(repo) == {"release-1": sha}
    assert git(repo, "cat-file", "-t", "release-1") == "tag"  # annotated
    message = release.tag_message(release.Git(repo), "release-1")
    digest = gate.read_results(path).digest
    assert message.splitlines()[0] == (
        "release-1: gate allowed: pass rate 100% (10/10), p95 400 ms, error rate 0%"
    )
    assert f"commit: {sha}\n" in message
    assert "previous: none\n" in message
    assert f"results-sha256: {digest}\n" in message
    assert f"run-id: run-{sha[:7]}\n" in message
    assert "Pass rate: 100% (10/10) (limit ≥ 90%)" in message
    assert summary.read_text().startswith("## ✅ llmops promote\n\npromoted")

    second = promote_ok(repo, tmp_path, "next")
    assert f"to stable as release-2 (was {sha[:12]})" in capsys.readouterr().out
    assert ref(repo, "stable") == second
    assert tags(repo) == {"release-1": sha, "release-2": second}
    assert f"previous: {sha} (release-1)" in release.tag_message(release.Git(repo), "release-2")


def test_results_of_another_commit_are_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    evaluated = commit(repo, "evaluated")
    head = commit(repo, "not evaluated")
    path = results_file(tmp_path / "r.json", evaluated)
    assert main(["promote", "--results", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"these results are for commit {evaluated[:12]}, not HEAD ({head[:12]})" in err
    assert ref(repo, "stable") is None
    # The same results do promote the commit they were produced for, named by --ref.
    assert main(["promote", "--results", str(path), "--ref", "HEAD~1"]) == 0
    assert ref(repo, "stable") == evaluated


def test_an_abbreviated_commit_counts_but_a_ref_name_does_not(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sha = commit(repo, "feature")
    assert main(["promote", "--results", str(results_file(tmp_path / "r.json", "HEAD"))]) == 1
    assert "these results are for commit HEAD" in capsys.readouterr().err
    assert main(["promote", "--results", str(results_file(tmp_path / "r.json", sha[:10]))]) == 0
    assert ref(repo, "stable") == sha


def test_results_from_a_dirty_work_tree_are_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sha = commit(repo, "feature")
    path = results_file(tmp_path / "r.json", sha, dirty=True)
    assert main(["promote", "--results", str(path)]) == 1
    assert "uncommitted changes" in capsys.readouterr().err
    assert ref(repo, "stable") is None


def test_stable_only_moves_forward(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    older = commit(repo, "older")
    newer = promote_ok(repo, tmp_path, "newer")
    path = results_file(tmp_path / "old.json", older)
    assert main(["promote", "--results", str(path), "--ref", older]) == 1
    err = capsys.readouterr().err
    assert f"stable ({newer[:12]}) is not an ancestor of {older[:12]}: stable only moves" in err
    # A sibling line of history is refused the same way.
    git(repo, "checkout", "--quiet", "-b", "side", older)
    side = commit(repo, "side")
    assert main(["promote", "--results", str(results_file(tmp_path / "s.json", side))]) == 1
    assert ref(repo, "stable") == newer
    assert set(tags(repo)) == {"release-1"}


def test_promoting_the_commit_stable_is_at_changes_nothing(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sha = promote_ok(repo, tmp_path, "feature")
    capsys.readouterr()
    path = tmp_path / f"results-{sha[:7]}.json"
    assert main(["promote", "--results", str(path)]) == 0
    assert f"stable is already at {sha[:12]} (release-1); nothing to promote" in (
        capsys.readouterr().out
    )
    assert set(tags(repo)) == {"release-1"}


def test_a_checked_out_stable_is_not_moved_under_the_work_tree(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = promote_ok(repo, tmp_path, "first")
    sha = commit(repo, "next")
    git(repo, "checkout", "--quiet", "stable")
    path = results_file(tmp_path / "r.json", sha)
    assert main(["promote", "--results", str(path), "--ref", sha]) == 1
    assert "stable is checked out here" in capsys.readouterr().err
    assert ref(repo, "refs/heads/stable") == base
    assert tags(repo) == {"release-1": base}


def test_bad_input_exits_2(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["promote", "--results", str(tmp_path / "missing.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    path = results_file(tmp_path / "r.json", commit(repo, "x"))
    assert main(["promote", "--results", str(path), "--ref", "no-such-ref"]) == 2
    assert "no-such-ref: not a commit" in capsys.readouterr().err


def test_two_local_promotions_from_one_view_cannot_both_win(repo: Path, tmp_path: Path) -> None:
    base = promote_ok(repo, tmp_path, "base")
    git_ = release.Git(repo)
    a = commit(repo, "a")
    b = commit(repo, "b")
    plan_a = release.plan_promotion(git_, results_file(tmp_path / "a.json", a), ref=a)
    plan_b = release.plan_promotion(git_, results_file(tmp_path / "b.json", b), ref=b)
    assert isinstance(plan_a, release.Plan) and isinstance(plan_b, release.Plan)
    assert plan_a.tag == plan_b.tag == "release-2"
    release.apply(git_, plan_b)
    with pytest.raises(release.Refused, match="lost a race"):
        release.apply(git_, plan_a)
    assert ref(repo, "stable") == b
    assert tags(repo) == {"release-1": base, "release-2": b}


# -- promotion to a remote


def test_push_promotes_on_the_remote(
    repo: Path,
    remote: Path,
    tmp_path: Path,
    clone,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sha = promote_ok(repo, tmp_path, "feature", "--push")
    assert "promoted" in capsys.readouterr().out
    refs = remote_refs(remote)
    assert refs["refs/heads/stable"] == sha
    assert refs["refs/tags/release-1"] == sha
    assert ref(repo, "refs/heads/stable") is None  # the local branch is left alone
    assert ref(repo, "refs/remotes/origin/stable") == sha
    assert tags(repo) == {"release-1": sha}

    monkeypatch.chdir(clone("other"))
    assert main(["releases", "--remote", "origin", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["tag"] == "release-1" and row["commit"] == sha and row["stable"] is True
    assert row["summary"].startswith("gate allowed: pass rate 100% (10/10)")


def test_concurrent_promotions_one_wins_the_loser_leaves_no_tag(
    clone, remote: Path, tmp_path: Path
) -> None:
    """Two clones promote from the same stale view: the atomic push with a lease lets one win."""
    first, second = clone("first"), clone("second")
    a, b = commit(first, "a"), commit(second, "b")
    plans = {}
    for repo_, sha in ((first, a), (second, b)):
        plans[repo_] = release.plan_promotion(
            release.Git(repo_),
            results_file(tmp_path / f"{sha}.json", sha),
            ref=sha,
            remote="origin",
        )
    release.apply(release.Git(first), plans[first])
    with pytest.raises(release.Refused, match=r"lost a race: origin/stable or release-1 changed"):
        release.apply(release.Git(second), plans[second])
    refs = remote_refs(remote)
    assert refs["refs/heads/stable"] == a
    assert [r for r in refs if r.startswith("refs/tags/")] == ["refs/tags/release-1"]
    assert refs["refs/tags/release-1"] == a
    assert tags(second) == {}


def test_concurrent_promote_processes(clone, remote: Path, tmp_path: Path) -> None:
    """Two real `llmops promote --push` at once, of sibling commits: exactly one succeeds."""
    first, second = clone("first"), clone("second")
    procs = []
    for repo_ in (first, second):
        sha = commit(repo_, f"work in {repo_.name}")
        path = results_file(tmp_path / f"{repo_.name}.json", sha)
        cmd = [sys.executable, "-m", "llmops", "promote", "--results", str(path), "--push"]
        procs.append(
            subprocess.Popen(
                cmd, cwd=repo_, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outcomes = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 1], outcomes
    loser_err = next(err for code, err in outcomes if code == 1)
    assert "refused" in loser_err
    refs = remote_refs(remote)
    remote_tags = {r.removeprefix("refs/tags/") for r in refs if r.startswith("refs/tags/")}
    assert remote_tags == {"release-1"}
    for repo_ in (first, second):
        assert set(tags(repo_)) <= remote_tags  # nobody keeps a stray tag


# -- rollback


def test_rollback_restores_the_previous_release(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    r1 = promote_ok(repo, tmp_path, "one")
    r2 = promote_ok(repo, tmp_path, "two")
    r3 = promote_ok(repo, tmp_path, "three")
    capsys.readouterr()
    assert main(["rollback", "--reason", "card freeze broken"]) == 0
    assert f"back from {r3[:12]} to {r2[:12]}; recorded as rollback-1" in capsys.readouterr().out
    assert ref(repo, "stable") == r2
    message = release.tag_message(release.Git(repo), "rollback-1")
    assert message.splitlines()[0] == (
        f"rollback-1: stable release-3 ({r3[:12]}) -> release-2 ({r2[:12]}): card freeze broken"
    )
    assert f"from: {r3} (release-3)\nto: {r2} (release-2)\nreason: card freeze broken" in message

    assert main(["rollback"]) == 0  # from release-2 to release-1
    assert ref(repo, "stable") == r1
    assert main(["rollback"]) == 1
    assert "release-1 is the first release" in capsys.readouterr().err
    assert main(["rollback", "--to", "release-3"]) == 0
    assert ref(repo, "stable") == r3
    assert main(["rollback", "--to", "release-9"]) == 1
    assert "release-9: no such release (releases: release-1, release-2, release-3)" in (
        capsys.readouterr().err
    )
    assert tags(repo) == {
        "release-1": r1,
        "release-2": r2,
        "release-3": r3,
        "rollback-1": r2,
        "rollback-2": r1,
        "rollback-3": r3,
    }


def test_rollback_needs_a_release(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["rollback"]) == 1
    assert "stable does not exist: nothing to roll back" in capsys.readouterr().err
    git(repo, "branch", "stable")
    head = git(repo, "rev-parse", "HEAD")
    assert main(["rollback"]) == 1
    assert f"stable ({head[:12]}) is not at a recorded release; name the release" in (
        capsys.readouterr().err
    )


def test_rollback_pushes_with_a_lease(
    repo: Path,
    remote: Path,
    tmp_path: Path,
    clone,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r1 = promote_ok(repo, tmp_path, "one", "--push")
    r2 = promote_ok(repo, tmp_path, "two", "--push")
    operator = clone("operator")  # someone else's clone, with no local release tags yet
    planned = release.plan_rollback(release.Git(operator), remote="origin", reason="late")
    assert isinstance(planned, release.Plan) and planned.commit == r1

    # Meanwhile a new release lands: the planned rollback's lease on stable=r2 must fail.
    r3 = promote_ok(repo, tmp_path, "three", "--push")
    with pytest.raises(release.Refused, match="lost a race"):
        release.apply(release.Git(operator), planned)
    refs = remote_refs(remote)
    assert refs["refs/heads/stable"] == r3
    assert not any("rollback" in r for r in refs)
    assert "rollback-1" not in tags(operator)

    # Fresh, it goes through: back to release-2, recorded on the remote.
    monkeypatch.chdir(operator)
    assert main(["rollback", "--push", "--reason", "three is bad"]) == 0
    refs = remote_refs(remote)
    assert refs["refs/heads/stable"] == r2
    assert refs["refs/tags/rollback-1"] == r2
    assert ref(operator, "refs/remotes/origin/stable") == r2
    capsys.readouterr()
    assert main(["releases"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert [ln.split()[1] if ln.startswith("*") else ln.split()[0] for ln in lines[:-1]] == [
        "release-1",
        "release-2",
        "release-3",
        "rollback-1",
    ]
    assert lines[1].startswith("* release-2") and lines[3].startswith("* rollback-1")
    assert f"stable release-3 ({r3[:12]}) -> release-2 ({r2[:12]}): three is bad" in lines[3]
    assert lines[-1] == "(* = where stable is now)"


def test_releases_when_there_are_none(repo: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["releases"]) == 0
    assert "no releases yet" in capsys.readouterr().out
    assert main(["releases", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_an_unreachable_remote_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sha = commit(repo, "x")
    path = results_file(tmp_path / "r.json", sha)
    args = ["promote", "--results", str(path), "--push", "--remote", str(tmp_path / "nowhere")]
    assert main(args) == 1
    assert "cannot" in capsys.readouterr().err


def test_a_rolled_back_commit_is_not_promoted_again(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    promote_ok(repo, tmp_path, "one")
    bad = promote_ok(repo, tmp_path, "two")
    assert main(["rollback", "--reason", "bad"]) == 0
    capsys.readouterr()
    # CI re-running on the same commit must not undo the rollback.
    assert main(["promote", "--results", str(tmp_path / f"results-{bad[:7]}.json")]) == 1
    assert f"{bad[:12]} was rolled back by rollback-1" in capsys.readouterr().err
    assert main(["rollback", "--to", "release-2"]) == 0  # on purpose, it can go back
    assert ref(repo, "stable") == bad
    fixed = promote_ok(repo, tmp_path, "fix")
    assert tags(repo)["release-3"] == fixed


# -- odd tags, shallow clones, failing git, incomplete results


def test_tags_that_only_look_like_releases_are_ignored(
    repo: Path, remote: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`release-*` globs match `release-candidate` too: only `release-N` counts as a release."""
    base = commit(repo, "tagged by hand")
    for name in ("release-candidate", "release-0", "release-01", "release-2.0", "rollback-x"):
        git(repo, "tag", "-a", name, "-m", f"{name}: by hand", base)
    git(repo, "tag", "release-lightweight", base)
    git(repo, "push", "--quiet", "origin", "--tags")
    view = release.local_view(release.Git(repo), "stable")
    assert view.tags == {} and view.next_name(release.RELEASE) == "release-1"
    remote_view = release.remote_view(release.Git(repo), "origin", "stable")
    assert remote_view.tags == {} and remote_view.stable is None
    sha = promote_ok(repo, tmp_path, "first release", "--push")
    assert remote_refs(remote)["refs/tags/release-1"] == sha
    capsys.readouterr()
    assert main(["releases", "--json"]) == 0
    assert [row["tag"] for row in json.loads(capsys.readouterr().out)] == ["release-1"]
    assert main(["rollback", "--push"]) == 1
    assert "release-1 is the first release" in capsys.readouterr().err


def test_remote_view_reads_peeled_tags_and_the_branch(repo: Path, tmp_path: Path) -> None:
    r1 = promote_ok(repo, tmp_path, "one", "--push")
    r2 = promote_ok(repo, tmp_path, "two", "--push")
    view = release.remote_view(release.Git(repo), "origin", "stable")
    assert (view.stable, view.remote, view.where()) == (r2, "origin", "origin/stable")
    assert {name: tag.commit for name, tag in view.tags.items()} == {
        "release-1": r1,
        "release-2": r2,
    }
    # the ref holds the tag object; the commit is what it peels to
    assert view.tags["release-2"].object == git(repo, "rev-parse", "refs/tags/release-2")
    assert view.tags["release-2"].object != r2
    assert view.release_at(r1).name == "release-1" and view.release_at("0" * 40) is None
    assert [t.number for t in view.of_kind(release.RELEASE)] == [1, 2]
    assert view.next_name(release.ROLLBACK) == "rollback-1"


def test_ordering_of_releases_is_numeric(repo: Path, tmp_path: Path) -> None:
    """release-10 comes after release-9, not between release-1 and release-2."""
    shas = [promote_ok(repo, tmp_path, f"c{i}") for i in range(1, 12)]
    view = release.local_view(release.Git(repo), "stable")
    assert [t.name for t in view.of_kind(release.RELEASE)][-3:] == [
        "release-9",
        "release-10",
        "release-11",
    ]
    assert view.next_name(release.RELEASE) == "release-12"
    rows = release.list_releases(release.Git(repo))
    assert [row["number"] for row in rows] == list(range(1, 12))
    assert [row["commit"] for row in rows] == shas
    assert [row["stable"] for row in rows] == [False] * 10 + [True]
    planned = release.plan_rollback(release.Git(repo))
    assert planned.commit == shas[9] and planned.tag == "rollback-1"


def test_a_shallow_clone_cannot_prove_stable_is_an_ancestor(
    repo: Path,
    remote: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CI checks out one commit by default: the promotion must say so, not claim stable is on
    another line of history."""
    first = repo
    promote_ok(first, tmp_path, "one", "--push")
    for i in range(3):
        commit(first, f"later {i}")
    git(first, "push", "--quiet", "origin", "main")
    head = git(first, "rev-parse", "HEAD")
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", remote.as_uri(), str(shallow)], check=True
    )
    _identity(shallow)
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    monkeypatch.chdir(shallow)
    path = results_file(tmp_path / "shallow.json", head)
    capsys.readouterr()
    assert main(["promote", "--results", str(path), "--push"]) == 1
    err = capsys.readouterr().err
    assert "this clone is shallow" in err and "fetch the full history" in err
    assert f"is an ancestor of {head[:12]}; fetch" in err
    assert "not an ancestor" not in err
    assert set(remote_refs(remote)) == {
        "refs/heads/main",
        "refs/heads/stable",
        "refs/tags/release-1",
    }
    # with the full history it goes through
    git(shallow, "fetch", "--quiet", "--unshallow", "origin")
    assert main(["promote", "--results", str(path), "--push"]) == 0, capsys.readouterr().err
    assert remote_refs(remote)["refs/tags/release-2"] == head


def test_stable_moving_between_fetch_and_look_is_fetched_by_id(
    clone, remote: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another promotion lands after our fetch: the commit the remote now names is fetched."""
    first, second = clone("first"), clone("second")
    a = commit(first, "a")
    release.promote(release.Git(first), results_file(tmp_path / "a.json", a), push=True)
    git(first, "push", "--quiet", "origin", "main")
    git(second, "pull", "--quiet", "origin", "main")
    b = commit(first, "b")
    git(first, "push", "--quiet", "origin", "main")
    git(second, "pull", "--quiet", "origin", "main")
    c = commit(second, "c")  # c follows b follows a
    real_fetch = release.fetch_records

    def fetch_then_someone_promotes(git_: release.Git, remote_: str, branch: str) -> None:
        real_fetch(git_, remote_, branch)
        if git_.cwd == second and not release.Git(first).has_commit(c):
            release.promote(release.Git(first), results_file(tmp_path / "b.json", b), push=True)

    monkeypatch.setattr(release, "fetch_records", fetch_then_someone_promotes)
    assert release.Git(second).has_commit(b)  # b came with the pull; drop it from the view
    outcome = release.promote(
        release.Git(second), results_file(tmp_path / "c.json", c), ref=c, push=True
    )
    assert (outcome.tag, outcome.previous) == ("release-3", b)
    assert remote_refs(remote)["refs/heads/stable"] == c


def test_a_failing_git_call_is_refused_with_its_message(tmp_path: Path) -> None:
    g = release.Git(tmp_path)
    with pytest.raises(release.GitError, match=r"^git frobnicate --now failed: .*frobnicate"):
        g.run("frobnicate", "--now")
    assert g.run("frobnicate", check=False) == ""
    assert not g.ok("frobnicate")
    with pytest.raises(InputError, match="not inside a git repository"):
        release.git_for(tmp_path)
    with pytest.raises(InputError, match="nope: not a commit in"):
        release.Git(tmp_path).resolve("nope")


def test_git_missing_from_path_is_refused(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(release.GitError, match="git is not installed"):
        release.Git(repo).run("status")


def test_a_tagger_without_identity_is_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    git(repo, "config", "user.useConfigOnly", "true")
    for name in ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "x")  # enough to commit, not to tag
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "x@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "x")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "x@example.com")
    sha = commit(repo, "feature")
    monkeypatch.delenv("GIT_COMMITTER_NAME")
    monkeypatch.delenv("GIT_COMMITTER_EMAIL")
    path = results_file(tmp_path / "r.json", sha)
    assert main(["promote", "--results", str(path)]) == 1
    assert "git does not know who you are: set user.name and user.email" in (
        capsys.readouterr().err
    )
    assert ref(repo, "stable") is None and tags(repo) == {}


def test_results_without_a_commit_are_refused(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    commit(repo, "feature")
    for commit_value in (None, ""):
        path = tmp_path / "r.json"
        data = results([record(f"case-{i}") for i in range(10)], git_commit=commit_value)
        write(path, data)
        assert main(["promote", "--results", str(path)]) == 1
        assert (
            f"{path}: the results record no git commit; cannot promote them"
            in capsys.readouterr().err
        )
    assert ref(repo, "stable") is None


def test_a_rollback_to_where_stable_is_changes_nothing(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    promote_ok(repo, tmp_path, "one")
    r2 = promote_ok(repo, tmp_path, "two")
    capsys.readouterr()
    assert main(["rollback", "--to", "release-2"]) == 0
    assert capsys.readouterr().out == (
        f"stable is already at release-2 ({r2[:12]}); nothing to roll back\n"
    )
    outcome = release.rollback(release.Git(repo), to="release-2")
    assert (outcome.changed, outcome.tag, outcome.commit, outcome.previous) == (
        False,
        None,
        r2,
        r2,
    )
    assert set(tags(repo)) == {"release-1", "release-2"}


def test_rollback_to_a_release_from_a_stable_at_no_release(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    r1 = promote_ok(repo, tmp_path, "one")
    hotfix = commit(repo, "hotfix pushed to stable by hand")
    git(repo, "branch", "--force", "stable", hotfix)
    capsys.readouterr()
    assert main(["rollback", "--to", "release-1", "--reason", "  undo\n the   hotfix "]) == 0
    assert f"rolled stable back from {hotfix[:12]} to {r1[:12]}; recorded as rollback-1" in (
        capsys.readouterr().out
    )
    assert ref(repo, "stable") == r1
    message = release.tag_message(release.Git(repo), "rollback-1")
    assert message == (
        f"rollback-1: stable {hotfix[:12]} -> release-1 ({r1[:12]}): undo the hotfix\n\n"
        f"from: {hotfix}\nto: {r1} (release-1)\nreason: undo the hotfix"
    )
    # `--to` must name a release: a rollback tag is not one
    assert main(["rollback", "--to", "rollback-1"]) == 1
    assert "rollback-1: no such release (releases: release-1)" in capsys.readouterr().err


def test_rollback_without_a_reason_says_so(repo: Path, tmp_path: Path) -> None:
    promote_ok(repo, tmp_path, "one")
    promote_ok(repo, tmp_path, "two")
    outcome = release.rollback(release.Git(repo))
    assert outcome.changed and outcome.tag == "rollback-1"
    assert release.tag_message(release.Git(repo), "rollback-1").endswith(
        "\nreason: no reason given"
    )


def test_a_repromoted_commit_counts_as_its_newest_release(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """After `rollback --to` a commit carries two releases: the next rollback starts from the
    newer one and goes to the release before it that is another commit."""
    r1 = promote_ok(repo, tmp_path, "one")
    r2 = promote_ok(repo, tmp_path, "two")
    assert main(["rollback"]) == 0  # to release-1
    r3 = promote_ok(repo, tmp_path, "three")  # release-3
    assert main(["rollback", "--to", "release-1"]) == 0
    assert main(["rollback", "--to", "release-3"]) == 0
    view = release.local_view(release.Git(repo), "stable")
    assert view.release_at(r3).name == "release-3" and view.release_at(r2).name == "release-2"
    assert view.release_at(r1).name == "release-1"
    planned = release.plan_rollback(release.Git(repo))
    assert planned.commit == r2
    assert planned.message.startswith(
        f"rollback-4: stable release-3 ({r3[:12]}) -> release-2 ({r2[:12]})"
    )


def test_the_release_message_records_the_baseline(repo: Path, tmp_path: Path) -> None:
    base_sha = promote_ok(repo, tmp_path, "one")
    baseline = tmp_path / f"results-{base_sha[:7]}.json"
    sha = commit(repo, "two")
    path = results_file(tmp_path / "r.json", sha)
    outcome = release.promote(release.Git(repo), path, baseline_path=baseline)
    message = release.tag_message(release.Git(repo), outcome.tag)
    digest = gate.read_results(baseline).digest
    assert f"\nbaseline-sha256: {digest}\n" in message
    assert "Regressions vs baseline: 0 (limit 0)" in message
    assert "target: reference\n" in message and "llmops-version: 0.1.0\n" in message
    assert f"cases-digest: {'0' * 64}\n" in message
    assert "baseline-sha256" not in release.tag_message(release.Git(repo), "release-1")


def test_records_of_one_second_list_releases_first_then_by_number(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI can promote and roll back within a second: the listing must still read in order."""
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-01T00:00:00+00:00")
    r1 = promote_ok(repo, tmp_path, "one")
    promote_ok(repo, tmp_path, "two")
    assert main(["rollback", "--reason", "x"]) == 0
    for i in range(3, 11):
        promote_ok(repo, tmp_path, f"c{i}")
    rows = release.list_releases(release.Git(repo))
    assert len({row["date"] for row in rows}) == 1
    assert [row["tag"] for row in rows] == [f"release-{i}" for i in range(1, 11)] + ["rollback-1"]
    assert rows[-1]["commit"] == r1 and rows[-1]["kind"] == "rollback"


def test_records_are_listed_in_time_order(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release made after a rollback is listed after it, whatever their kinds and numbers."""
    for second, step in enumerate(["one", "two", "rollback", "three"]):
        monkeypatch.setenv("GIT_COMMITTER_DATE", f"2026-01-01T00:00:0{second}+00:00")
        if step == "rollback":
            assert main(["rollback"]) == 0
        else:
            promote_ok(repo, tmp_path, step)
    rows = release.list_releases(release.Git(repo))
    assert [row["tag"] for row in rows] == ["release-1", "release-2", "rollback-1", "release-3"]
