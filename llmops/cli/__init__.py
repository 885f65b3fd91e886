"""The `llmops` command: a thin face over the core. Each subcommand lives in its own module here,
which registers its parser and imports the core lazily so start-up stays fast.

Exit codes: 0 success / gate allows; 1 checks failed / gate blocks; 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from llmops import __version__
from llmops.errors import InputError

# Subcommand modules, each with `register(subparsers)`; the parser's `func(args) -> int` runs it.
MODULES = (
    "llmops.cli.init",
    "llmops.cli.cases",
    "llmops.cli.pii",
    "llmops.cli.chatbot",
    "llmops.cli.monitor",
    "llmops.cli.feedback",
    "llmops.cli.release",
    "llmops.cli.results",
    "llmops.cli.redteam",
    "llmops.cli.compare",
    "llmops.cli.judge",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmops",
        description="Evaluate, monitor, gate and improve chatbots (the evals run with "
        "`pytest evals/`).",
        epilog="Exit codes: 0 success / gate allows, 1 checks failed / gate blocks / alerts, "
        "2 bad input or usage.",
    )
    parser.add_argument("--version", action="version", version=f"llmops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing module
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from llmops import scrub
    from llmops.textsafe import SafeStream

    scrub.reset()  # the secrets of this process, as its environment is now
    # Whatever a command prints (a bot's error text, a results file, a rollback reason) reaches
    # the terminal without control characters or configured secrets.
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = SafeStream(out), SafeStream(err)  # type: ignore[assignment]
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"llmops: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        from llmops.extras import missing_extra_message

        sub = getattr(args, f"{args.command}_command", None)
        command = " ".join(["llmops", args.command, *([sub] if sub else [])])
        message = missing_extra_message(command, exc)
        if message is None:
            raise
        print(f"llmops: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `llmops ... | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
