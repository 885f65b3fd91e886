"""Sharded evals (`pytest evals/ --shard I/N`) and their merge (`llmops results merge`): real
pytest processes in parallel against a real HTTP chatbot on 127.0.0.1, in a real git repository."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmops import integrity, results
from llmops.errors import InputError
from llmops.schemas import load_schema
from llmops.shards import MAX_SHARDS, Part, Shard, assign, merge
from tests.conftest import REPO, eval_env
from tests.test_evals_e2e import CASES as E2E_CASES  # the three support cases

KEY = "shard-test-signing-key"
REPEAT = 2

CASES = E2E_CASES + """\
  - id: zebra
    prompt: How do I freeze my debit card?
    severity: minor
    expect: {contains: zebra}
  - id: skipped-one
    prompt: Anything
    skip: not ready yet
"""

MORE = "".join(
    f"""
  - id: q{i:02d}
    prompt: "{prompt}"
"""
    for i, prompt in enumerate([
        "How do I freeze my debit card?",
        "When are your branches open?",
        "How do I report a lost card?",
        "What is your phone number?",
        "Can I open an account online?",
        "How do I change my address?",
        "What are your fees?",
    ])
)

PYPROJECT = """[tool.llmops]
cases = 'cases'
concurrency = 4
timeout_s = 10
retries = 1
feedback = 'feedback/feedback.jsonl'

[tool.llmops.gate]
min_pass_rate = 0.5
max_p95_latency_ms = 10000

[tool.llmops.pii]
allow = ['+1 800 555 0199', 'support@examplebank.com']
"""


def git_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig")}


def git(root: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


def evals(root: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--target", url, "--repeat", str(REPEAT), *args],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=eval_env(LLMOPS_RESULTS_KEY=KEY),
    )


def finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), out[-3000:]  # 1: the zebra case fails, as it should
    return out


def llmops(root: Path, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = eval_env(**({"LLMOPS_RESULTS_KEY": key} if key else {}))
    return subprocess.run([sys.executable, "-m", "llmops", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, env=env)


def load(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, load_schema("results"))
    return doc


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three shards run at once, then an unsharded run, of one commit against one HTTP bot."""
    from llmops.chatbot.server import create_app, serve_in_thread

    base = tmp_path_factory.mktemp("sharded")
    home = base / "home"
    home.mkdir()
    env = git_env(home)
    root = base / "proj"
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "cases").mkdir()
    (root / "cases" / "support.yaml").write_text(CASES + MORE)
    (root / ".gitignore").write_text("reports/\nfeedback/\n__pycache__/\n")
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "config", "user.name", "CI")
    git(root, env, "config", "user.email", "ci@example.com")
    git(root, env, "add", "-A")
    git(root, env, "commit", "-q", "-m", "cases")
    app = create_app("v1")
    with serve_in_thread(app) as url:
        procs = [evals(root, url, "--shard", f"{i}/3", "--reports", f"reports/shard-{i}")
                 for i in (1, 2, 3)]
        outputs = [finish(p) for p in procs]
        sharded_requests = sum(app.state.counts.values())
        full_out = finish(evals(root, url, "--reports", "reports/full"))
        full_requests = sum(app.state.counts.values()) - sharded_requests
    return {
        "root": root, "env": env, "url": url, "outputs": outputs, "full_out": full_out,
        "sharded_requests": sharded_requests, "full_requests": full_requests,
        "shards": [root / "reports" / f"shard-{i}" / "results.json" for i in (1, 2, 3)],
        "full": root / "reports" / "full" / "results.json",
    }


# -- the partition --------------------------------------------------------------------------


def test_shard_option_parses_and_refuses_nonsense() -> None:
    assert Shard.parse("2/3") == Shard(2, 3)
    assert Shard.parse(" 1 / 1 ") == Shard(1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "-1/2", "1/0", f"1/{MAX_SHARDS + 1}", "1/3/5", ""):
        with pytest.raises(InputError, match="--shard: expected I/N"):
            Shard.parse(bad)


def test_partition_is_disjoint_balanced_and_the_same_in_any_order() -> None:
    ids = [f"case-{i}" for i in range(103)]
    for n in (1, 2, 3, 7, 103, 150):
        home = assign(ids, n)
        assert set(home) == set(ids)
        sizes = Counter(home.values())
        assert set(sizes) <= set(range(1, n + 1))
        assert max(sizes.values()) - min(sizes.values()) <= 1
        assert len(sizes) == min(n, len(ids))
        assert assign(reversed(ids), n) == home  # what one machine computes, every one does
    # Ids that look alike (one suite's) spread over the shards rather than filling one.
    assert len({assign(ids, 3)[f"case-{i}"] for i in range(6)}) > 1


# -- three shards in parallel, merged ---------------------------------------------------------


def test_three_parallel_shards_ask_every_case_once_in_total(sharded) -> None:
    docs = [load(p) for p in sharded["shards"]]
    full = load(sharded["full"])
    asked = [{(e["case_id"], e["repeat"]) for e in d["exchanges"]} for d in docs]
    # Disjoint, and together every (case, repeat) the unsharded run asked.
    assert sum(len(a) for a in asked) == len(set().union(*asked))
    assert set().union(*asked) == {(e["case_id"], e["repeat"]) for e in full["exchanges"]}
    # The server saw each of them exactly once: as many requests as samples, for both runs.
    samples = len(full["exchanges"])
    assert samples == 11 * REPEAT  # 12 cases, one skipped
    assert sharded["sharded_requests"] == samples
    assert sharded["full_requests"] == samples
    # All repeats of a case in one shard; balanced by case count; marked with shard, commit
    # and cases digest.
    case_sets = [{c for c, _ in a} for a in asked]
    assert all({r for c, r in a} == {1, 2} for a in asked)
    assert sorted(len(c) for c in case_sets) == [3, 4, 4]  # 11 asked + 1 skipped = 12 cases
    for i, d in enumerate(docs, 1):
        run = d["run"]
        assert run["selection"]["shard"] == {"index": i, "count": 3}
        assert run["git_commit"] == full["run"]["git_commit"]
        assert run["cases_digest"] == full["run"]["cases_digest"]
        assert run["coverage"]["complete"] is False
        assert run["selection"]["deselected"] == 0
    assert f"asking {len(case_sets[0]) * REPEAT} case run(s)" in sharded["outputs"][0]


def _without_latency(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("latency_ms", "exchange")}


def _key(rec: dict[str, Any]) -> tuple:
    return (rec["case_id"], rec.get("repeat") or 1, rec["check"])


def test_merged_shards_equal_the_unsharded_run(sharded) -> None:
    root = sharded["root"]
    out = root / "reports" / "merged" / "results.json"
    proc = llmops(root, "results", "merge", *map(str, sharded["shards"]), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "merged 3 shard(s)" in proc.stdout and "coverage 12/12 case(s) (complete)" in proc.stdout
    merged, full = load(out), load(sharded["full"])
    # The same records (the answers' latencies are the only thing two runs measure apart).
    got = sorted(map(_without_latency, merged["results"]), key=_key)
    want = sorted(map(_without_latency, full["results"]), key=_key)
    assert got == want
    # Each record still points at its own exchange, and the exchanges are the same ones.
    for rec in merged["results"]:
        if rec["exchange"] is not None:
            ex = merged["exchanges"][rec["exchange"]]
            assert (ex["case_id"], ex["repeat"]) == (rec["case_id"], rec["repeat"])
    assert [(e["case_id"], e["repeat"], e["response"]) for e in merged["exchanges"]] == \
        [(e["case_id"], e["repeat"], e["response"]) for e in full["exchanges"]]
    # Stats, case stats and summary, as the unsharded run's (latency recomputed from records).
    assert sorted(merged["stats"], key=lambda s: (s["case_id"], s["check"])) == \
        sorted(full["stats"], key=lambda s: (s["case_id"], s["check"]))
    assert sorted(merged["case_stats"], key=lambda s: s["case_id"]) == \
        sorted(full["case_stats"], key=lambda s: s["case_id"])
    no_latency = lambda s: {k: v for k, v in s.items() if k != "latency_ms"}  # noqa: E731
    assert no_latency(merged["summary"]) == no_latency(full["summary"])
    assert merged["summary"]["latency_ms"] == results.summarize(merged["results"])["latency_ms"]
    assert integrity.problems(merged) == []
    for field in ("git_commit", "git_branch", "git_dirty", "cases_digest", "target",
                  "chatbot_version", "repeat", "requests", "selection", "coverage"):
        assert merged["run"][field] == full["run"][field], field
    assert [s["index"] for s in merged["run"]["shards"]] == [1, 2, 3]
    assert integrity.verify(merged, KEY.encode()) is None  # signed again, with the CI key
    # The gate reads it like any other: the merged full set passes, as the unsharded run does;
    # a shard alone is a partial run and blocks.
    for path in (out, sharded["full"]):
        gate = llmops(root, "gate", str(path))
        assert gate.returncode == 0, gate.stdout + gate.stderr
    gate = llmops(root, "gate", str(sharded["shards"][0]))
    assert gate.returncode == 1
    assert "partial run (selected with --shard 1/3)" in gate.stdout
    assert "merge all 3 with `llmops results merge`" in gate.stdout
    # compare and feedback read it too.
    cmp = llmops(root, "compare", str(sharded["full"]), str(out), "--json")
    assert cmp.returncode == 0, cmp.stderr
    fb = llmops(root, "feedback", "from-results", str(out))
    assert fb.returncode == 0 and "new feedback record(s)" in fb.stdout, fb.stderr


def test_promote_takes_the_merged_results_and_refuses_one_shard(sharded, tmp_path) -> None:
    root, env = sharded["root"], sharded["env"]
    out = tmp_path / "merged.json"
    assert llmops(root, "results", "merge", *map(str, sharded["shards"]), "-o",
                  str(out)).returncode == 0
    one = subprocess.run([sys.executable, "-m", "llmops", "promote", "--results",
                          str(sharded["shards"][1])], cwd=root, capture_output=True, text=True,
                         env={**eval_env(LLMOPS_RESULTS_KEY=KEY), **_git_only(env)})
    assert one.returncode == 1 and "partial run" in one.stderr
    ok = subprocess.run([sys.executable, "-m", "llmops", "promote", "--results", str(out)],
                        cwd=root, capture_output=True, text=True,
                        env={**eval_env(LLMOPS_RESULTS_KEY=KEY), **_git_only(env)})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert git(root, env, "rev-parse", "stable") == git(root, env, "rev-parse", "HEAD")


def _git_only(env: dict[str, str]) -> dict[str, str]:
    return {k: env[k] for k in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL")}


# -- the merge refuses what is not one run ---------------------------------------------------


def merge_cli(root: Path, *paths: Path, out: Path, key: str | None = KEY
              ) -> subprocess.CompletedProcess[str]:
    return llmops(root, "results", "merge", *map(str, paths), "-o", str(out), key=key)


def refused(proc: subprocess.CompletedProcess[str], out: Path, *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not out.exists()  # nothing half-checked is written
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_a_missing_shard_is_named(sharded, tmp_path) -> None:
    a, b, _ = sharded["shards"]
    out = tmp_path / "out.json"
    refused(merge_cli(sharded["root"], a, b, out=out), out, "shard(s) 3/3 missing",
            "given: 1/3, 2/3")


def test_a_duplicated_shard_is_named(sharded, tmp_path) -> None:
    a, b, c = sharded["shards"]
    copy_of_b = tmp_path / "copy.json"
    shutil.copy(b, copy_of_b)
    out = tmp_path / "out.json"
    proc = merge_cli(sharded["root"], a, b, c, copy_of_b, out=out)
    refused(proc, out, f"shard 2/3 given 2 times: {b}, {copy_of_b}")
    refused(merge_cli(sharded["root"], a, b, b, c, out=out), out, "given more than once")


def test_shards_of_two_commits_are_refused(sharded, tmp_path) -> None:
    """Shard 3 run again after a new commit (a real one) does not join shards 1 and 2."""
    root, env = sharded["root"], sharded["env"]
    (root / "NOTES.md").write_text("a change\n")
    git(root, env, "add", "NOTES.md")
    git(root, env, "commit", "-q", "-m", "notes")
    try:
        from llmops.chatbot.server import create_app, serve_in_thread

        with serve_in_thread(create_app("v1")) as url:
            finish(evals(root, url, "--shard", "3/3", "--reports", "reports/later"))
    finally:
        git(root, env, "reset", "-q", "--hard", "HEAD~1")
    a, b, _ = sharded["shards"]
    later = root / "reports" / "later" / "results.json"
    out = tmp_path / "out.json"
    proc = merge_cli(root, a, b, later, out=out)
    old = load(a)["run"]["git_commit"]
    new = load(later)["run"]["git_commit"]
    refused(proc, out, "not one commit", f"{a} has '{old}'", f"{later} has '{new}'")


def copy_case(src: dict[str, Any], dst: dict[str, Any], case_id: str, *, move: bool) -> None:
    """Put a case's records and exchanges from one shard into another, every record pointing
    at its own exchange (a careful forger's edit: the evidence checks all hold)."""
    for doc, taking in ((dst, True), (src, False)):
        if not taking and not move:
            continue
        if taking:
            doc["results"].extend(copy.deepcopy([r for r in src["results"]
                                                 if r["case_id"] == case_id]))
            doc["exchanges"].extend(copy.deepcopy([e for e in src["exchanges"]
                                                   if e["case_id"] == case_id]))
        else:
            doc["results"] = [r for r in doc["results"] if r["case_id"] != case_id]
            doc["exchanges"] = [e for e in doc["exchanges"] if e["case_id"] != case_id]
        index = {(e["case_id"], e["repeat"]): n for n, e in enumerate(doc["exchanges"])}
        for r in doc["results"]:
            r["exchange"] = index.get((r["case_id"], r["repeat"]))


def test_overlapping_cases_are_refused(sharded, tmp_path) -> None:
    """A shard that also holds another shard's case (figures made to add up, signed again)."""
    a, b, _ = (load(p) for p in sharded["shards"])
    stolen = [r for r in a["results"] if r["case_id"] == a["exchanges"][0]["case_id"]]
    copy_case(a, b, stolen[0]["case_id"], move=False)
    b["summary"] = results.summarize(b["results"])
    results.add_stats(b, {})
    integrity.sign(b, KEY.encode())
    bad = tmp_path / "shard-2.json"
    bad.write_text(json.dumps(b))
    out = tmp_path / "out.json"
    proc = merge_cli(sharded["root"], sharded["shards"][0], bad, sharded["shards"][2], out=out)
    refused(proc, out, f"case '{stolen[0]['case_id']}' is in more than one shard: "
            f"{sharded['shards'][0]}, {bad}")


def test_a_case_moved_to_another_shard_is_refused(sharded, tmp_path) -> None:
    a, b, c = (load(p) for p in sharded["shards"])
    moved = b["exchanges"][0]["case_id"]
    copy_case(b, a, moved, move=True)
    paths = []
    for i, d in enumerate((a, b, c), 1):
        d["summary"] = results.summarize(d["results"])
        results.add_stats(d, {})
        integrity.sign(d, KEY.encode())
        paths.append(tmp_path / f"s{i}.json")
        paths[-1].write_text(json.dumps(d))
    out = tmp_path / "out.json"
    refused(merge_cli(sharded["root"], *paths, out=out), out,
            f"case '{moved}' ran in shard 1/3 but belongs to shard 2/3")


def test_a_tampered_shard_is_refused(sharded, tmp_path) -> None:
    # The shard where the zebra case failed.
    [i] = [i for i, p in enumerate(sharded["shards"])
           if any(r["outcome"] == "failed" for r in load(p)["results"])]
    others = [p for j, p in enumerate(sharded["shards"]) if j != i]
    doc = load(sharded["shards"][i])
    failed = next(r for r in doc["results"] if r["outcome"] == "failed")
    failed["outcome"] = "passed"  # a failure turned into a pass, summary left alone
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    # Signed by CI, so the edit breaks the signature; without the key, the figures still
    # do not add up.
    refused(merge_cli(sharded["root"], bad, *others, out=out), out,
            f"{bad}: the signature does not match")
    refused(merge_cli(sharded["root"], bad, *others, out=out, key=None), out,
            f"{bad}: the results do not add up: summary passed is")
    # With the key set, an unsigned shard is refused too.
    unsigned = load(sharded["shards"][i])
    unsigned.pop("signature")
    bare = tmp_path / "unsigned.json"
    bare.write_text(json.dumps(unsigned))
    refused(merge_cli(sharded["root"], bare, *others, out=out), out,
            f"{bare}: the results are not signed")


def test_a_whole_run_and_a_broken_file_are_refused(sharded, tmp_path) -> None:
    out = tmp_path / "out.json"
    a, b, c = sharded["shards"]
    refused(merge_cli(sharded["root"], a, b, c, sharded["full"], out=out), out,
            f"{sharded['full']}: not a shard")
    broken = tmp_path / "broken.json"
    broken.write_text('{"run": ')
    refused(merge_cli(sharded["root"], a, b, broken, out=out), out,
            f"{broken}:1: results are not valid JSON")
    refused(merge_cli(sharded["root"], a, b, tmp_path / "nope.json", out=out), out,
            "no such results file")


# -- the merge's figures, exactly -------------------------------------------------------------


def split(full: dict[str, Any], count: int) -> list[Part]:
    """The shards an unsharded run's answers make: each shard's document as the plugin builds it
    (its records and exchanges, summary and stats recomputed)."""
    home = assign({r["case_id"] for r in full["results"] if r["check"] != "case_file"}, count)
    parts = []
    for i in range(1, count + 1):
        doc = copy.deepcopy(full)
        doc.pop("signature", None)
        doc["results"] = [r for r in doc["results"] if home.get(r["case_id"], 1) == i]
        exchanges = [e for e in doc["exchanges"] if home[e["case_id"]] == i]
        index = {(e["case_id"], e["repeat"]): n for n, e in enumerate(exchanges)}
        for r in doc["results"]:
            r["exchange"] = index.get((r["case_id"], r["repeat"]))
        doc["exchanges"] = exchanges
        doc["summary"] = results.summarize(doc["results"])
        results.add_stats(doc, {s["case_id"]: s["min_pass_rate"] for s in full["stats"]})
        doc["run"]["selection"]["shard"] = {"index": i, "count": count}
        doc["run"]["requests"] = len(exchanges)
        doc.pop("redteam", None)
        parts.append(Part(f"shard-{i}.json", doc))
    return parts


@pytest.mark.parametrize("count", [1, 2, 3, 5, 12, 15])
def test_merging_a_split_run_gives_back_its_exact_figures(sharded, count) -> None:
    """The same answers split into shards and merged: records, stats, summary (latency
    percentiles over every exchange included) and coverage are the unsharded run's, exactly."""
    full = load(sharded["full"])
    merged = merge(split(full, count))
    jsonschema.validate(merged, load_schema("results"))
    assert sorted(merged["results"], key=_key) == sorted(full["results"], key=_key)
    assert merged["exchanges"] == full["exchanges"]
    assert merged["summary"] == full["summary"]
    assert sorted(merged["stats"], key=lambda s: (s["case_id"], s["check"])) == \
        sorted(full["stats"], key=lambda s: (s["case_id"], s["check"]))
    assert sorted(merged["case_stats"], key=lambda s: s["case_id"]) == \
        sorted(full["case_stats"], key=lambda s: s["case_id"])
    assert merged["run"]["coverage"] == full["run"]["coverage"]
    assert merged["run"]["selection"] == full["run"]["selection"]
    assert merged["run"]["requests"] == full["run"]["requests"]


def test_more_shards_than_cases_leave_empty_shards_that_still_merge(tmp_path) -> None:
    """A CI matrix sized for a larger suite: the empty shards write results and exit 0."""
    from llmops.chatbot.server import create_app, serve_in_thread

    home = tmp_path / "home"
    home.mkdir()
    env = git_env(home)
    root = tmp_path / "proj"
    shutil.copytree(REPO / "evals", root / "evals", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "cases").mkdir()
    (root / "cases" / "two.yaml").write_text(
        "cases:\n  - id: one\n    prompt: How do I freeze my debit card?\n"
        "  - id: two\n    prompt: When are your branches open?\n")
    git(root, env, "init", "-q", "-b", "main")
    git(root, env, "add", "-A")
    git(root, env, "-c", "user.name=CI", "-c", "user.email=ci@example.com", "commit", "-q",
        "-m", "cases")
    app = create_app("v1")
    with serve_in_thread(app) as url:
        procs = [subprocess.Popen(
            [sys.executable, "-m", "pytest", "evals/", "-p", "no:cacheprovider", "--target", url,
             "--shard", f"{i}/4", "--reports", f"reports/s{i}"],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=eval_env()) for i in range(1, 5)]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
        assert sum(app.state.counts.values()) == 2
    empty = [o for o in outs if "holds none of the selected cases" in o]
    assert len(empty) == 2
    out = tmp_path / "merged.json"
    proc = llmops(root, "results", "merge",
                  *(str(root / "reports" / f"s{i}" / "results.json") for i in range(1, 5)),
                  "-o", str(out), key=None)
    assert proc.returncode == 0, proc.stderr
    merged = load(out)
    assert merged["run"]["coverage"]["complete"] is True
    assert merged["summary"]["cases"] == 2 and merged["run"]["requests"] == 2
    assert merged["run"]["chatbot_version"] == "v1"


# -- the CI workflow, run step by step on separate clones ------------------------------------


def _workflow(name: str) -> dict[str, Any]:
    import yaml

    if name == "ci.yml":
        text = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    else:
        from llmops.scaffold import template

        text = template(name)
    doc = yaml.safe_load(text)
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _step(doc: dict[str, Any], needle: str) -> dict[str, Any]:
    [found] = [s for j in doc["jobs"].values() for s in j.get("steps", [])
               if needle in s.get("run", "")]
    return found


def _tools(machine: Path) -> dict[str, str]:
    """What the workflow's install step leaves: .venv/bin/{pytest,llmops} (this repository's
    workflow) and `python`, `llmops` on PATH (the scaffolded one), all this interpreter."""
    bin_ = machine / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name, command in (("python", ""), ("pytest", "-m pytest -p no:cacheprovider"),
                          ("llmops", "-m llmops")):
        (bin_ / name).write_text(f'#!/bin/sh\nexec "{sys.executable}" {command} "$@"\n')
        (bin_ / name).chmod(0o755)
    return {"PATH": f"{bin_}:/usr/bin:/bin"}


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.mark.parametrize("workflow", ["ci.yml", "llmops.yml"])
def test_the_workflow_shards_merges_and_gates_on_separate_machines(sharded, tmp_path,
                                                                    workflow) -> None:
    """The plan, matrix, upload, download, merge and gate steps of the workflow, each script run
    as written, every shard on a clone of its own, against one HTTP bot."""
    from llmops.chatbot.server import create_app, serve_in_thread

    doc = _workflow(workflow)
    root, genv = sharded["root"], sharded["env"]
    plan = _step(doc, "seq -s")
    default = doc["on"]["workflow_dispatch"]["inputs"]["shards"]["default"]
    out = tmp_path / "plan-output"
    proc = _bash(plan["run"], tmp_path, {"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(out),
                                         "SHARDS": str(default)})
    assert proc.wait(timeout=30) == 0
    planned = dict(line.split("=", 1) for line in out.read_text().splitlines())
    count, shards = int(planned["count"]), json.loads(planned["shards"])
    assert shards == list(range(1, count + 1)) and count == default

    def machine(name: str) -> tuple[Path, dict[str, str]]:
        path = tmp_path / name
        git(tmp_path, genv, "clone", "-q", str(root), str(path))
        env = {**eval_env(LLMOPS_RESULTS_KEY=KEY), "GITHUB_OUTPUT": str(path / "gh-output"),
               **_tools(path)}
        return path, env

    evals = _step(doc, "pytest evals/")
    gate_machine, gate_env = machine("gate")
    app = create_app("v1")
    with serve_in_thread(app) as url:
        runs = []
        for i in shards:
            path, env = machine(f"shard-{i}")
            env.update(LLMOPS_TARGET=url, SHARD=f"{i}/{count}")
            runs.append((i, path, _bash(evals["run"], path, env)))
        for i, path, proc in runs:
            output = proc.communicate(timeout=300)[0]
            assert proc.returncode == 0, output[-3000:]  # pytest's 1 (zebra) left to the gate
            # upload-artifact `eval-shard-I` of reports/, download-artifact into shards/NAME/
            shutil.copytree(path / "reports", gate_machine / "shards" / f"eval-shard-{i}")
    assert sum(app.state.counts.values()) == 11  # each case asked once (the workflow: no repeat)
    summary = gate_machine / "summary.md"
    gate_env["GITHUB_STEP_SUMMARY"] = str(summary)
    for needle in ("llmops results merge", "llmops gate"):
        proc = _bash(_step(doc, needle)["run"], gate_machine, gate_env)
        output = proc.communicate(timeout=120)[0]
        assert proc.returncode == 0, output
    merged = load(gate_machine / "reports" / "results.json")
    assert merged["run"]["coverage"]["complete"] is True
    assert len(merged["run"]["shards"]) == count
    assert integrity.verify(merged, KEY.encode()) is None
    assert "allowed" in summary.read_text().lower()
    assert (gate_machine / "reports" / "report.html").is_file()


def test_with_a_keyword_the_split_is_of_the_selected_cases(sharded) -> None:
    """`-k` selects first (in every shard alike), then the split is made: the merged shards are
    the unsharded `-k` run, deselected count included, and still partial for the gate."""
    root = sharded["root"]
    from llmops.chatbot.server import create_app, serve_in_thread

    app = create_app("v1")
    with serve_in_thread(app) as url:
        procs = [evals(root, url, "-k", "q0", "--shard", f"{i}/2", "--reports", f"reports/k{i}")
                 for i in (1, 2)]
        for p in procs:
            finish(p)
        finish(evals(root, url, "-k", "q0", "--reports", "reports/kfull"))
        assert sum(app.state.counts.values()) == 2 * 7 * REPEAT
    shards = [root / "reports" / f"k{i}" / "results.json" for i in (1, 2)]
    sizes = sorted(len({r["case_id"] for r in load(p)["results"]}) for p in shards)
    assert sizes == [3, 4]
    out = root / "reports" / "kmerged.json"
    proc = llmops(root, "results", "merge", *map(str, shards), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    merged, full = load(out), load(root / "reports" / "kfull" / "results.json")
    assert sorted(map(_without_latency, merged["results"]), key=_key) == \
        sorted(map(_without_latency, full["results"]), key=_key)
    assert merged["run"]["selection"] == full["run"]["selection"]
    assert full["run"]["selection"]["keyword"] == "q0" and full["run"]["selection"]["deselected"]
    assert merged["run"]["coverage"] == full["run"]["coverage"]
    gate = llmops(root, "gate", str(out))
    assert gate.returncode == 1 and "partial run (selected with -k 'q0')" in gate.stdout
    # A shard run with another selection is not part of this run.
    proc = llmops(root, "results", "merge", str(shards[0]), str(sharded["shards"][1]), "-o",
                  str(root / "reports" / "bad.json"))
    assert proc.returncode == 2 and "not one selection (-k, -m, --cases)" in proc.stderr


def test_the_merging_process_scrubs_its_own_secrets(sharded, tmp_path) -> None:
    """A secret of the machine that merges (an API key in its environment), found in a shard's
    text, is not in the merged file; the shards' files are left as they were."""
    secret = "sk-merge-only-5f3a9c1e77"
    a = load(sharded["shards"][0])
    a["results"][0]["message"] = f"upstream said: key {secret} rejected"
    a["exchanges"][0]["response"] = f"Your key is {secret}."
    integrity.sign(a, KEY.encode())
    first = tmp_path / "shard-1.json"
    first.write_text(json.dumps(a))
    out = tmp_path / "merged.json"
    env = eval_env(LLMOPS_RESULTS_KEY=KEY, OPENAI_API_KEY=secret)
    proc = subprocess.run([sys.executable, "-m", "llmops", "results", "merge", str(first),
                           *map(str, sharded["shards"][1:]), "-o", str(out)],
                          cwd=sharded["root"], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = out.read_text()
    assert secret not in text and "upstream said: key" in text
    assert integrity.verify(json.loads(text), KEY.encode()) is None
    assert secret in first.read_text()
