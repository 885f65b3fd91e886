"""Promotion and rollback of `stable`, recorded in git itself.

- A release is an annotated tag `release-N` on the promoted commit; its message holds the gate's
  summary line and the sha256 of the results file that allowed it.
- A rollback is an annotated tag `rollback-N` on the commit `stable` returns to; its message holds
  from, to and the reason.
- `stable` moves only by compare-and-swap on the value we looked at: locally one
  `git update-ref --stdin` transaction (branch and tag together, or neither); on a remote one
  `git push --atomic --force-with-lease=refs/heads/stable:<old>` carrying branch and tag. Two
  promotions from stale views cannot both win, and the loser leaves no tag behind: the tag object
  is made with `git mktag` and only ever referenced inside the winning transaction.

Everything runs the `git` command line in a subprocess; refusals raise `Refused` (exit 1), bad
input such as an unknown ref raises `InputError` (exit 2).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops import gate, integrity
from llmops.errors import InputError

RELEASE = "release"
ROLLBACK = "rollback"
_TAG_RE = re.compile(r"^(release|rollback)-([1-9][0-9]*)$")
_SHA_RE = re.compile(r"^[0-9a-fA-F]{7,64}$")


class Refused(Exception):
    """The operation was refused or lost a race; the message says why. Exit code 1."""


class GitError(Refused):
    """A git command failed in a way that is not the user's input."""


@dataclass(frozen=True)
class Git:
    """The `git` command line, run in `cwd`."""

    cwd: Path

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = self.call(*args, input=input)
        if check and proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed: {_stderr(proc)}")
        return proc.stdout.strip()

    def call(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        # Never prompt for credentials: a promotion in CI must fail, not hang.
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            return subprocess.run(
                ["git", *args],
                cwd=self.cwd,
                input=input,
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
        except FileNotFoundError as exc:
            raise GitError("git is not installed (or not on PATH)") from exc

    def ok(self, *args: str) -> bool:
        return self.call(*args).returncode == 0

    def resolve(self, ref: str) -> str:
        """The full commit id `ref` names; an unknown ref is bad input."""
        proc = self.call("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if proc.returncode != 0:
            raise InputError(f"{ref}: not a commit in {self.cwd}")
        return proc.stdout.strip()

    def has_commit(self, sha: str) -> bool:
        return self.ok("cat-file", "-e", f"{sha}^{{commit}}")

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self.ok("merge-base", "--is-ancestor", older, newer)


def _stderr(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return " / ".join(lines[-4:]) or f"exit {proc.returncode}"


# -- the view: where stable is and which releases exist


@dataclass(frozen=True)
class Tag:
    name: str
    object: str  # the tag object (what the ref holds)
    commit: str  # the commit it points at

    @property
    def kind(self) -> str:
        return _TAG_RE.match(self.name).group(1)  # type: ignore[union-attr]

    @property
    def number(self) -> int:
        return int(_TAG_RE.match(self.name).group(2))  # type: ignore[union-attr]


@dataclass(frozen=True)
class View:
    """A snapshot of `stable` and the release/rollback tags, locally or on a remote."""

    branch: str
    stable: str | None
    tags: Mapping[str, Tag]
    remote: str | None = None

    def of_kind(self, kind: str) -> list[Tag]:
        return sorted((t for t in self.tags.values() if t.kind == kind), key=lambda t: t.number)

    def next_name(self, kind: str) -> str:
        tags = self.of_kind(kind)
        return f"{kind}-{tags[-1].number + 1 if tags else 1}"

    def release_at(self, commit: str | None) -> Tag | None:
        """The newest release on `commit` (a commit re-promoted after a rollback has two)."""
        found = [t for t in self.of_kind(RELEASE) if t.commit == commit]
        return found[-1] if found else None

    def where(self) -> str:
        return f"{self.remote}/{self.branch}" if self.remote else self.branch


def local_view(git: Git, branch: str) -> View:
    out = git.run(
        "for-each-ref",
        "--format=%(refname) %(objectname) %(*objectname)",
        f"refs/heads/{branch}",
        "refs/tags/release-*",
        "refs/tags/rollback-*",
    )
    stable, tags = None, {}
    for line in out.splitlines():
        ref, obj, *peeled = line.split()
        if ref == f"refs/heads/{branch}":
            stable = obj
        elif ref.startswith("refs/tags/") and _TAG_RE.match(ref[len("refs/tags/") :]):
            name = ref[len("refs/tags/") :]
            tags[name] = Tag(name, obj, peeled[0] if peeled else obj)
    return View(branch, stable, tags)


def remote_view(git: Git, remote: str, branch: str) -> View:
    """The remote's refs as `git ls-remote` sees them now: the values our lease will expect."""
    proc = git.call(
        "ls-remote", remote, f"refs/heads/{branch}", "refs/tags/release-*", "refs/tags/rollback-*"
    )
    if proc.returncode != 0:
        raise GitError(f"cannot read remote {remote!r}: {_stderr(proc)}")
    stable, objects, peeled = None, {}, {}
    for line in proc.stdout.splitlines():
        sha, ref = line.split("\t", 1)
        if ref == f"refs/heads/{branch}":
            stable = sha
        elif ref.startswith("refs/tags/"):
            name = ref[len("refs/tags/") :]
            if name.endswith("^{}"):
                peeled[name[:-3]] = sha
            elif _TAG_RE.match(name):
                objects[name] = sha
    tags = {n: Tag(n, obj, peeled.get(n, obj)) for n, obj in objects.items()}
    return View(branch, stable, tags, remote)


def fetch_records(git: Git, remote: str, branch: str) -> None:
    """Copy the remote's release/rollback tags and its stable branch (as remote-tracking)."""
    specs = [
        "+refs/tags/release-*:refs/tags/release-*",
        "+refs/tags/rollback-*:refs/tags/rollback-*",
    ]
    if git.call("ls-remote", "--exit-code", remote, f"refs/heads/{branch}").returncode == 0:
        specs.append(f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
    proc = git.call("fetch", "--quiet", "--no-tags", remote, *specs)
    if proc.returncode != 0:
        raise GitError(f"cannot fetch from {remote!r}: {_stderr(proc)}")


def _ensure_commit(git: Git, sha: str, remote: str | None, what: str) -> None:
    if git.has_commit(sha):
        return
    if remote:
        git.call("fetch", "--quiet", "--no-tags", remote, sha)
        if git.has_commit(sha):
            return
    raise GitError(f"{what} {sha[:12]} is not in this clone; fetch the full history first")


# -- promotion


@dataclass
class Outcome:
    """What happened: `changed` is False when there was nothing to do."""

    message: str
    tag: str | None = None
    commit: str | None = None
    previous: str | None = None
    changed: bool = True
    decision: gate.Decision | None = None


@dataclass
class Plan:
    """A prepared move of `stable`: made against one view, applied with a lease on it."""

    view: View
    commit: str  # where stable goes
    tag: str  # the ref name of the record: release-N or rollback-N
    tag_object: str  # the annotated tag object, not yet referenced by any ref
    message: str
    decision: gate.Decision | None = None


def plan_promotion(
    git: Git,
    results_path: str | Path,
    ref: str = "HEAD",
    branch: str = "stable",
    remote: str | None = None,
    policy: gate.Policy | None = None,
    baseline_path: str | Path | None = None,
    key: bytes | None = None,
) -> Plan | Outcome:
    """Check everything a promotion needs; an `Outcome` means there is nothing to do.

    `key` (default: `LLMOPS_RESULTS_KEY` from the environment): when there is one, the results
    must carry a valid signature made with it."""
    commit = git.resolve(ref)
    results = gate.read_results(results_path)
    baseline = gate.read_results(baseline_path) if baseline_path else None
    run = results.data["run"]

    produced = run.get("git_commit")
    if not produced:
        raise Refused(f"{results.path}: the results record no git commit; cannot promote them")
    # Only a commit id counts (a results file saying "HEAD" must not match every ref).
    if _SHA_RE.match(produced) and git.has_commit(produced):
        produced = git.resolve(produced)
    if produced != commit:
        raise Refused(
            f"{results.path}: these results are for commit {produced[:12]}, not {ref} "
            f"({commit[:12]}); run the evals on the commit you promote"
        )
    if run.get("git_dirty"):
        paths = run.get("git_dirty_paths") or []
        shown = f" ({', '.join(paths[:5])}{', ...' if len(paths) > 5 else ''})" if paths else ""
        raise Refused(
            f"{results.path}: the evals ran on a work tree with uncommitted changes (or untracked "
            f"or ignored files among the run's inputs){shown}, so they do not describe commit "
            f"{commit[:12]}"
        )
    if key is None:
        key = integrity.results_key()
    if key is not None:
        why = integrity.verify(results.data, key)
        if why:
            raise Refused(f"{results.path}: {why} ({integrity.KEY_ENV} is set, so only "
                          "results signed with it are promoted)")
    decision = gate.evaluate(results, policy, baseline)
    if not decision.allowed:
        why = "\n".join(f"  - {r.message}" for r in decision.reasons)
        raise Refused(f"the gate blocks these results ({decision.summary_line()}):\n{why}")

    view = _view(git, branch, remote)
    old = view.stable
    if old == commit:
        at = view.release_at(commit)
        return Outcome(
            f"{view.where()} is already at {commit[:12]}"
            + (f" ({at.name})" if at else "")
            + "; nothing to promote",
            tag=at.name if at else None,
            commit=commit,
            previous=old,
            changed=False,
            decision=decision,
        )
    for tag in view.of_kind(ROLLBACK):
        if f"\nfrom: {commit}" in tag_message(git, tag.name):
            raise Refused(
                f"{commit[:12]} was rolled back by {tag.name}; promote a newer commit, or return "
                "to its release on purpose with `llmops rollback --to`"
            )
    if old is not None:
        _ensure_commit(git, old, remote, f"{view.where()} commit")
        if not git.is_ancestor(old, commit):
            # A shallow clone (CI's default checkout) cuts the history the answer needs.
            if git.run("rev-parse", "--is-shallow-repository") == "true":
                raise GitError(
                    f"this clone is shallow, so it cannot tell whether {view.where()} "
                    f"({old[:12]}) is an ancestor of {commit[:12]}; fetch the full history "
                    "first (`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout)"
                )
            raise Refused(
                f"{view.where()} ({old[:12]}) is not an ancestor of {commit[:12]}: stable only "
                "moves forward (to go back, use `llmops rollback`)"
            )
    name = view.next_name(RELEASE)
    message = _release_message(name, commit, old, results, decision, view)
    return Plan(view, commit, name, _make_tag(git, name, commit, message), message, decision)


def _release_message(
    name: str,
    commit: str,
    old: str | None,
    results: gate.Results,
    decision: gate.Decision,
    view: View,
) -> str:
    run = results.data["run"]
    prev = view.release_at(old)
    lines = [
        f"{name}: {decision.summary_line()}",
        "",
        f"commit: {commit}",
        f"previous: {old or 'none'}" + (f" ({prev.name})" if prev else ""),
        f"results-sha256: {results.digest}",
        f"run-id: {run.get('id')}",
        f"target: {run.get('target')}",
        f"cases-digest: {run.get('cases_digest')}",
        f"llmops-version: {run.get('llmops_version')}",
    ]
    if decision.baseline_digest:
        lines.append(f"baseline-sha256: {decision.baseline_digest}")
    lines += ["", *(f"{rule.label}: {rule.value} (limit {rule.limit})" for rule in decision.rules)]
    return "\n".join(lines) + "\n"


def promote(
    git: Git,
    results_path: str | Path,
    *,
    ref: str = "HEAD",
    branch: str = "stable",
    remote: str = "origin",
    push: bool = False,
    policy: gate.Policy | None = None,
    baseline_path: str | Path | None = None,
) -> Outcome:
    """Promote `ref` to `branch` (on `remote` when `push`) if its results allow it."""
    planned = plan_promotion(
        git,
        results_path,
        ref=ref,
        branch=branch,
        remote=remote if push else None,
        policy=policy,
        baseline_path=baseline_path,
    )
    if isinstance(planned, Outcome):
        return planned
    apply(git, planned)
    old = planned.view.stable
    return Outcome(
        f"promoted {planned.commit[:12]} to {planned.view.where()} as {planned.tag}"
        + (f" (was {old[:12]})" if old else " (new branch)"),
        tag=planned.tag,
        commit=planned.commit,
        previous=old,
        decision=planned.decision,
    )


# -- rollback


def plan_rollback(
    git: Git,
    to: str | None = None,
    branch: str = "stable",
    remote: str | None = None,
    reason: str = "",
) -> Plan | Outcome:
    view = _view(git, branch, remote)
    current = view.stable
    if current is None:
        raise Refused(f"{view.where()} does not exist: nothing to roll back")
    at = view.release_at(current)
    releases = view.of_kind(RELEASE)
    if to:
        target = view.tags.get(to)
        if target is None or target.kind != RELEASE:
            known = ", ".join(t.name for t in releases) or "none"
            raise Refused(f"{to}: no such release (releases: {known})")
    else:
        if at is None:
            raise Refused(
                f"{view.where()} ({current[:12]}) is not at a recorded release; "
                "name the release to return to with --to"
            )
        earlier = [t for t in releases if t.number < at.number and t.commit != current]
        if not earlier:
            raise Refused(f"{at.name} is the first release: there is nothing before it")
        target = earlier[-1]
    if target.commit == current:
        return Outcome(
            f"{view.where()} is already at {target.name} ({current[:12]}); nothing to roll back",
            tag=None,
            commit=current,
            previous=current,
            changed=False,
        )
    _ensure_commit(git, target.commit, remote, f"{target.name} commit")
    name = view.next_name(ROLLBACK)
    from_label = f"{at.name} ({current[:12]})" if at else current[:12]
    to_label = f"{target.name} ({target.commit[:12]})"
    reason = " ".join(reason.split()) or "no reason given"
    message = (
        f"{name}: stable {from_label} -> {to_label}: {reason}\n\n"
        f"from: {current}" + (f" ({at.name})" if at else "") + "\n"
        f"to: {target.commit} ({target.name})\n"
        f"reason: {reason}\n"
    )
    tag_object = _make_tag(git, name, target.commit, message)
    return Plan(view, target.commit, name, tag_object, message)


def rollback(
    git: Git,
    *,
    to: str | None = None,
    branch: str = "stable",
    remote: str = "origin",
    push: bool = False,
    reason: str = "",
) -> Outcome:
    """Move `branch` back to the previous release (or `to`), on `remote` when `push`."""
    planned = plan_rollback(
        git, to=to, branch=branch, remote=remote if push else None, reason=reason
    )
    if isinstance(planned, Outcome):
        return planned
    apply(git, planned)
    old = planned.view.stable
    return Outcome(
        f"rolled {planned.view.where()} back from {old[:12] if old else '?'} to "
        f"{planned.commit[:12]}; recorded as {planned.tag}",
        tag=planned.tag,
        commit=planned.commit,
        previous=old,
    )


# -- applying a plan: compare-and-swap on the value we looked at


def apply(git: Git, plan: Plan) -> None:
    """Move the branch and create the tag in one step, or raise `Refused` and change nothing."""
    view, branch_ref, tag_ref = plan.view, f"refs/heads/{plan.view.branch}", f"refs/tags/{plan.tag}"
    if view.remote is None:
        if git.run("symbolic-ref", "--quiet", "HEAD", check=False) == branch_ref:
            raise Refused(
                f"{view.branch} is checked out here; switch to another branch so moving it "
                "does not leave this work tree out of step"
            )
        # One ref transaction: both refs change or neither; `update` with an old value is a CAS.
        old = view.stable
        lines = [
            f"create {tag_ref} {plan.tag_object}",
            f"update {branch_ref} {plan.commit} {old}"
            if old
            else f"create {branch_ref} {plan.commit}",
        ]
        proc = git.call("update-ref", "--stdin", input="\n".join(lines) + "\n")
        if proc.returncode != 0:
            raise Refused(
                f"lost a race: {view.branch} or {plan.tag} changed since we looked "
                f"({_stderr(proc)}); nothing was changed, run the command again"
            )
        return
    lease = f"--force-with-lease={branch_ref}:{view.stable or ''}"
    proc = git.call(
        "push",
        "--atomic",
        "--porcelain",
        lease,
        view.remote,
        f"{plan.commit}:{branch_ref}",
        f"{plan.tag_object}:{tag_ref}",
    )
    if proc.returncode != 0:
        rejected = [ln.strip() for ln in proc.stdout.splitlines() if ln.startswith("!")]
        detail = "; ".join(rejected) or _stderr(proc)
        raise Refused(
            f"lost a race: {view.where()} or {plan.tag} changed on {view.remote} since we looked "
            f"({detail}); nothing was pushed and no tag was kept, fetch and run again"
        )
    # Mirror what the remote now holds; the remote is the record, so overwrite stale locals.
    git.run("update-ref", tag_ref, plan.tag_object)
    git.run("update-ref", f"refs/remotes/{view.remote}/{view.branch}", plan.commit)


# -- listing


def list_releases(
    git: Git, branch: str = "stable", remote: str | None = None
) -> list[dict[str, Any]]:
    """Releases and rollbacks, oldest first, each with its commit, date and summary line."""
    if remote:
        fetch_records(git, remote, branch)
    # Where stable is: the remote's (as fetched) when asked, else the local branch, else origin's.
    candidates = (
        [f"refs/remotes/{remote}/{branch}"]
        if remote
        else [
            f"refs/heads/{branch}",
            f"refs/remotes/origin/{branch}",
        ]
    )
    stable = None
    for candidate in candidates:
        stable = git.run("rev-parse", "--verify", "--quiet", candidate, check=False) or None
        if stable:
            break
    out = git.run(
        "for-each-ref",
        "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00"
        "%(creatordate:unix)%00%(creatordate:iso-strict)%00%(contents:subject)",
        "refs/tags/release-*",
        "refs/tags/rollback-*",
    )
    ordered: list[tuple[tuple[int, bool, int], dict[str, Any]]] = []
    for line in _records(out, fields=6):
        name, obj, peeled, unix, date, subject = line.split("\0")
        if not _TAG_RE.match(name):
            continue
        tag = Tag(name, obj, peeled or obj)
        prefix = f"{name}: "
        row = {
            "tag": name,
            "kind": tag.kind,
            "number": tag.number,
            "commit": tag.commit,
            "date": date,
            "summary": subject[len(prefix) :] if subject.startswith(prefix) else subject,
            "stable": tag.commit == stable,
        }
        # Chronological; within one second a release comes before a rollback, then by number.
        ordered.append(((int(unix or 0), tag.kind == ROLLBACK, tag.number), row))
    return [row for _, row in sorted(ordered, key=lambda pair: pair[0])]


# -- helpers


def _records(out: str, fields: int) -> list[str]:
    """The records of `for-each-ref` output with `fields` NUL-separated fields. A subject (a
    rollback reason) may hold a CR, which text-mode output turns into a line break: a line
    with too few fields continues on the next."""
    records: list[str] = []
    for line in out.split("\n"):
        if records and records[-1].count("\0") < fields - 1:
            records[-1] += "\n" + line
        elif line:
            records.append(line)
    return [r for r in records if r.count("\0") == fields - 1]


def _view(git: Git, branch: str, remote: str | None) -> View:
    if remote is None:
        return local_view(git, branch)
    fetch_records(git, remote, branch)
    return remote_view(git, remote, branch)


def _make_tag(git: Git, name: str, commit: str, message: str) -> str:
    """An annotated tag object that no ref points at yet: nothing to clean up if we lose."""
    proc = git.call("var", "GIT_COMMITTER_IDENT")
    if proc.returncode != 0:
        raise GitError(
            f"git does not know who you are: set user.name and user.email ({_stderr(proc)})"
        )
    body = f"object {commit}\ntype commit\ntag {name}\ntagger {proc.stdout.strip()}\n\n{message}"
    return git.run("mktag", input=body)


def tag_message(git: Git, name: str) -> str:
    return git.run("tag", "-l", "--format=%(contents)", name)


def git_for(root: Path) -> Git:
    """A `Git` for the repository holding `root`; not a repository is bad input."""
    git = Git(root)
    if not git.ok("rev-parse", "--git-dir"):
        raise InputError(f"{root}: not inside a git repository")
    return git


__all__ = [
    "Git",
    "Outcome",
    "Plan",
    "Refused",
    "apply",
    "git_for",
    "list_releases",
    "local_view",
    "plan_promotion",
    "plan_rollback",
    "promote",
    "remote_view",
    "rollback",
]
