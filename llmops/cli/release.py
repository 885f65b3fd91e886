"""`llmops gate`, `promote`, `rollback` and `releases`: the version-control phase.

Exit codes: 0 allowed / done (or nothing to do); 1 the gate blocks, a promotion or rollback is
refused or lost a race; 2 bad input (missing, unreadable or invalid results, unknown ref).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from llmops.textsafe import md_text, one_line

STABLE = "stable"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "gate",
        help="decide whether eval results may be promoted (exit 0 allow, 1 block)",
        description="Apply [tool.llmops.gate] to a results file. Fail-closed: missing, "
        "unreadable or schema-invalid results exit 2. Under GitHub Actions it also appends a "
        "Markdown summary to $GITHUB_STEP_SUMMARY and prints ::error annotations that point at "
        "each failing case's YAML line.",
    )
    p.add_argument("results", nargs="?", help="results file (default: <reports>/results.json)")
    p.add_argument("--baseline", metavar="RESULTS", help="results of stable: forbid regressions")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.add_argument("--html", metavar="PATH",
                   help="also write the HTML report of these results with this verdict")
    p.add_argument(
        "--annotations",
        choices=("auto", "always", "never"),
        default="auto",
        help="print GitHub ::error annotations (auto: when GITHUB_ACTIONS=true)",
    )
    p.set_defaults(func=_gate)

    p = sub.add_parser(
        "promote",
        help="move stable forward to a commit whose results pass the gate",
        description="Refuses unless the results were produced for exactly --ref and the gate "
        "allows them, and stable is an ancestor of it. Records the release as an annotated tag "
        "release-N. With --push, branch and tag go to the remote in one atomic push with a lease "
        "on stable's old value.",
    )
    p.add_argument("--ref", default="HEAD", help="the commit to promote (default HEAD)")
    p.add_argument("--results", help="results of that commit (default: <reports>/results.json)")
    p.add_argument("--baseline", metavar="RESULTS", help="results of stable: forbid regressions")
    _common(p)
    p.set_defaults(func=_promote)

    p = sub.add_parser(
        "rollback",
        help="move stable back to the previous release (or --to one)",
        description="Moves stable to the release before the one it is at (or the one named), "
        "with a lease on its current value, and records an annotated tag rollback-N.",
    )
    p.add_argument("--to", metavar="TAG", help="the release to return to (e.g. release-3)")
    p.add_argument("--reason", default="", help="why; kept in the rollback tag")
    _common(p)
    p.set_defaults(func=_rollback)

    p = sub.add_parser("releases", help="list releases and rollbacks with their gate summaries")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.add_argument("--branch", default=STABLE, help="the release branch (default stable)")
    p.add_argument("--remote", help="fetch release tags and the branch from this remote first")
    p.set_defaults(func=_releases)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--branch", default=STABLE, help="the release branch (default stable)")
    p.add_argument("--remote", default="origin", help="remote used with --push (default origin)")
    p.add_argument("--push", action="store_true", help="update the remote, not the local branch")


def _gate(args: argparse.Namespace) -> int:
    import json

    from llmops import gate
    from llmops.config import load_config
    from llmops.errors import InputError

    config = load_config()
    path = Path(args.results) if args.results else config.reports / "results.json"
    annotate = args.annotations == "always" or (
        args.annotations == "auto" and os.environ.get("GITHUB_ACTIONS") == "true"
    )
    try:
        policy = gate.Policy.from_table(config.gate)
        results = gate.read_results(path)
        baseline = gate.read_results(args.baseline) if args.baseline else None
    except InputError as exc:
        # Fail closed, and say so where the reader of a CI run will look.
        _step_summary(f"## ❌ llmops gate: no decision\n\n{md_text(exc)}\n\n")
        if annotate:
            print(f"::error title=llmops gate::{gate.escape_data(str(exc))}", file=sys.stderr)
        raise
    from llmops import integrity

    decision = gate.evaluate(results, policy, baseline, key=integrity.results_key())
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        print("\n".join(decision.lines()))
    if annotate:
        # With --json, stdout holds the JSON; the runner reads workflow commands on stderr too.
        stream = sys.stderr if args.json else sys.stdout
        for line in decision.annotations(_repo_root(config.root), base=config.root):
            print(line, file=stream)
    _step_summary(decision.markdown())
    if args.html:
        from llmops import report
        from llmops.fileio import write_atomic

        write_atomic(Path(args.html), report.render(results.data, decision))
    return 0 if decision.allowed else 1


def _promote(args: argparse.Namespace) -> int:
    from llmops import gate, release
    from llmops.config import load_config

    config = load_config()
    git = release.git_for(config.root)
    results = Path(args.results) if args.results else config.reports / "results.json"
    try:
        outcome = release.promote(
            git,
            results,
            ref=args.ref,
            branch=args.branch,
            remote=args.remote,
            push=args.push,
            policy=gate.Policy.from_table(config.gate),
            baseline_path=args.baseline,
        )
    except release.Refused as exc:
        return _refused("promote", exc)
    print(outcome.message)
    if outcome.decision is not None:
        print(outcome.decision.summary_line())
    _step_summary(f"## ✅ llmops promote\n\n{md_text(outcome.message)}\n\n")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from llmops import release
    from llmops.config import load_config

    git = release.git_for(load_config().root)
    try:
        outcome = release.rollback(
            git,
            to=args.to,
            branch=args.branch,
            remote=args.remote,
            push=args.push,
            reason=args.reason,
        )
    except release.Refused as exc:
        return _refused("rollback", exc)
    print(outcome.message)
    _step_summary(f"## ↩️ llmops rollback\n\n{md_text(outcome.message)}\n\n")
    return 0


def _releases(args: argparse.Namespace) -> int:
    import json

    from llmops import release
    from llmops.config import load_config

    git = release.git_for(load_config().root)
    try:
        rows = release.list_releases(git, branch=args.branch, remote=args.remote)
    except release.Refused as exc:
        return _refused("releases", exc)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no releases yet (promote one with `llmops promote`)")
        return 0
    for row in rows:
        mark = "*" if row["stable"] else " "
        # A rollback reason is anyone's text: one line, no control characters.
        print(one_line(f"{mark} {row['tag']:<12} {row['commit'][:12]}  {row['date']}  "
                       f"{row['summary']}"))
    print(f"(* = where {args.branch} is now)")
    return 0


def _refused(command: str, exc: Exception) -> int:
    print(f"llmops {command}: refused: {exc}", file=sys.stderr)
    _step_summary(f"## ❌ llmops {command} refused\n\n{md_text(exc)}\n\n")
    return 1


def _step_summary(markdown: str) -> None:
    """Append to the GitHub job summary when running under Actions (the file is per step).
    Callers escape what they put in; the configured secrets are scrubbed here."""
    from llmops import scrub

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(scrub.text(markdown))


def _repo_root(start: Path) -> Path:
    from llmops.release import Git

    proc = Git(start).call("rev-parse", "--show-toplevel")
    return Path(proc.stdout.strip()) if proc.returncode == 0 else start
