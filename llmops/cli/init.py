"""`llmops init [--target T] [--ci github] [--force]`: scaffold a team's repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmops.errors import InputError

NEXT = (
    ("pytest evals/", "ask your chatbot every case; reports/report.html shows each check"),
    ("llmops gate", "would this commit be promoted? (exit 0 yes, 1 no)"),
    ("git add -A && git commit -m 'llmops evals'", "and run them in CI before every merge"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "init", help="set up evals/, cases/ and [tool.llmops] in this repository",
        description="Scaffold what a team needs to evaluate its chatbot with llmops: evals/ (the "
        "checks come from the installed package), starter cases, [tool.llmops] in pyproject.toml "
        "(merged, comments kept), .gitignore entries and, with --ci github, the workflows. "
        "Running it again changes nothing; it never overwrites a file of yours without --force.",
    )
    p.add_argument("--target", default=None,
                   help="your chatbot: http(s)://HOST/v1, python:module:function, cmd:COMMAND "
                        "(default: reference, llmops' example bot)")
    p.add_argument("--ci", choices=("github",), default=None,
                   help="also write the CI workflows (evals and gate, promote, rollback)")
    p.add_argument("--force", action="store_true",
                   help="replace files that differ from what init writes")
    p.add_argument("--dir", type=Path, default=Path("."), help="the repository (default: here)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from llmops.scaffold import init

    root = args.dir.resolve()
    if not root.is_dir():
        raise InputError(f"{args.dir}: no such directory")
    changes = init(root, target=args.target, ci=args.ci, force=args.force)
    width = max(len(c.path) for c in changes)
    done = [c for c in changes if c.action != "unchanged"]
    print(f"llmops init in {root}: " + (f"{len(done)} file(s) written" if done else
                                        "nothing to do, every file is up to date"))
    for c in changes:
        detail = f"  ({c.detail})" if c.detail else ""
        print(f"  {c.action:<9} {c.path:<{width}}{detail}".rstrip())
    print("next:")
    cw = max(len(cmd) for cmd, _ in NEXT)
    for cmd, why in NEXT:
        print(f"  {cmd:<{cw}}  # {why}")
    return 0

