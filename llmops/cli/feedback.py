"""`llmops feedback`: collect, import, learn from eval failures, turn feedback into cases and
training data, and count it. A thin face over `llmops.feedback` (imported lazily)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "feedback",
        help="collect and import feedback; turn it into regression cases and training data",
        description="Collect and import feedback, learn from eval failures, and turn feedback "
        "into regression cases and training data.",
    )
    parser.add_argument("--store", type=Path, help="feedback file (default: config `feedback`)")
    cmds = parser.add_subparsers(dest="feedback_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _usage(parser))

    p = cmds.add_parser(
        "collect",
        help="rate an exchange interactively",
        description="Show an exchange (typed in, asked of the chatbot now, or from a monitoring "
        "log or a results file), ask for a rating, category, comment and expected answer, and "
        "save the record at once. Without a terminal, give --answers FILE: a JSON or YAML object "
        "(or a list of them, one record each) with keys rating, category, comment, expected, "
        "and prompt and response for a typed exchange (event, case to pick one).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--ask", metavar="QUESTION", help="ask the chatbot this now and rate it")
    src.add_argument("--from-log", type=Path, metavar="FILE", help="rate a monitoring log event")
    src.add_argument("--from-results", type=Path, metavar="FILE", help="rate an eval result")
    p.add_argument("--target", help="target for --ask (default: config `target`)")
    p.add_argument("--event", metavar="ID", help="with --from-log: the event_id to rate")
    p.add_argument("--last", action="store_true", help="with --from-log: the last event")
    p.add_argument("--case", metavar="ID", help="with --from-results: the case to rate")
    p.add_argument("--source", choices=("user", "pm"), default="user", help="who rates")
    p.add_argument("--chatbot-version", help="the version rated, when the source does not say")
    p.add_argument(
        "--answers", type=Path, metavar="FILE", help="answers from a JSON or YAML file, no terminal"
    )
    p.set_defaults(func=_collect)

    p = cmds.add_parser("import", help="import a JSON array or JSONL of feedback records")
    p.add_argument("file", type=Path, nargs="+")
    p.set_defaults(func=_import)

    p = cmds.add_parser("from-results", help="store every failed eval check as feedback")
    p.add_argument("file", type=Path, nargs="?", help="default: <reports>/results.json")
    p.set_defaults(func=_from_results)

    p = cmds.add_parser("to-cases", help="write YAML regression cases from feedback")
    p.add_argument("--out", type=Path, help="directory (default: <cases>/feedback)")
    p.add_argument("--dry-run", action="store_true", help="say what would be written")
    p.set_defaults(func=_to_cases)

    p = cmds.add_parser("export", help="export training data (JSONL)")
    p.add_argument(
        "--format", required=True, choices=("chat-jsonl", "preference-jsonl"), dest="fmt"
    )
    p.add_argument("--out", type=Path, help="file (default: standard output)")
    p.add_argument("--system", help="chat-jsonl: a system message for every example")
    p.add_argument(
        "--include-positive",
        action="store_true",
        help="chat-jsonl: also well-rated answers (up, 4, 5) as they were",
    )
    p.set_defaults(func=_export)

    p = cmds.add_parser("stats", help="counts by category, rating, version, source, status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_stats)

    p = cmds.add_parser("list", help="list feedback records")
    p.add_argument("--status", choices=("new", "triaged", "converted"))
    p.add_argument("--category")
    p.add_argument("--source", choices=("user", "pm", "eval"))
    p.add_argument("--limit", type=int, default=0, help="the last N only")
    p.add_argument("--json", action="store_true", help="print the records as JSONL")
    p.set_defaults(func=_list)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _setup(args: argparse.Namespace) -> tuple[Any, Any]:
    from llmops.config import load_config
    from llmops.feedback.store import FeedbackStore

    config = load_config()
    path = config.resolve(args.store) if args.store else config.feedback
    return config, FeedbackStore(path)


def _redactor(config: Any) -> Any:
    """Redaction as `[tool.llmops.pii]` configures it (allowed public values kept)."""
    from llmops import scrub
    from llmops.pii import detector_from_config

    detector = detector_from_config(config)
    return lambda text: scrub.text(detector.redact(text))


def _warn(problems: list[str]) -> None:
    for p in problems:
        print(f"llmops: warning: {p}", file=sys.stderr)


def _collect(args: argparse.Namespace) -> int:
    from llmops.errors import InputError
    from llmops.feedback import collect as c

    if args.answers is None and not sys.stdin.isatty():
        raise InputError(
            "feedback collect: standard input is not a terminal; "
            "give the answers in a file with --answers FILE (JSON or YAML)"
        )
    if (args.event or args.last) and not args.from_log:
        raise InputError("feedback collect: --event and --last go with --from-log FILE")
    if args.case and not args.from_results:
        raise InputError("feedback collect: --case goes with --from-results FILE")
    config, store = _setup(args)
    redact = _redactor(config)
    out = sys.stdout
    asked: list[c.Exchange] = []

    def make_exchange(answers: c.Answers) -> c.Exchange:
        if args.ask:
            if not asked:  # ask once, however many ratings follow
                asked.append(c.asked_exchange(args.ask, args.target or config.target, config))
            return asked[0]
        if args.from_log:
            return c.log_exchange(args.from_log, answers, event_id=args.event, last=args.last)
        if args.from_results:
            case = args.case or answers.ask("case", "Case id")  # typed, or from the answers file
            if not case:
                raise InputError("feedback collect: --from-results needs --case ID")
            return c.results_exchange(args.from_results, str(case))
        return c.typed_exchange(answers)

    if args.answers is not None:
        entries = c.load_answers(args.answers)
        sources = (
            c.FileAnswers(e, f"{args.answers}: answer {n}", out) for n, e in enumerate(entries, 1)
        )

        def again(answers: c.Answers) -> bool:
            return False
    else:
        sources = iter([c.TerminalAnswers(out)])

        def again(answers: c.Answers) -> bool:
            reply = str(answers.ask("again", "Rate another? [y/N]") or "")
            return reply.strip().lower() in ("y", "yes")

    saved: list[str] = []
    try:
        saved = c.session(
            make_exchange,
            sources,
            store,
            source=args.source,
            redact=redact,
            chatbot_version=args.chatbot_version,
            again=again,
            saved=saved,
        )
    except (KeyboardInterrupt, EOFError):
        print(f"\ninterrupted: {len(saved)} record(s) saved, nothing else", file=sys.stderr)
        return 130
    print(f"{len(saved)} record(s) saved", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace) -> int:
    from llmops.feedback.ingest import import_file

    config, store = _setup(args)
    redact = _redactor(config)
    bad = 0
    for path in args.file:
        report = import_file(
            path, store, redact=redact, max_depth=config.limits.max_json_depth
        )
        for line in report.invalid:
            print(line, file=sys.stderr)
        bad += len(report.invalid)
        print(
            f"{path}: {report.added} added, {report.duplicates} already stored, "
            f"{len(report.invalid)} invalid"
        )
    return 1 if bad else 0


def _from_results(args: argparse.Namespace) -> int:
    from llmops.feedback.ingest import from_results_file

    config, store = _setup(args)
    path = args.file or config.reports / "results.json"
    added = from_results_file(path, store.path, redact=_redactor(config))
    print(f"{path}: {added} new feedback record(s) from failed checks in {store.path}")
    return 0


def _to_cases(args: argparse.Namespace) -> int:
    from llmops.feedback.convert import to_cases

    config, store = _setup(args)
    _warn(store.read().problems)
    out = config.resolve(args.out) if args.out else config.cases / "feedback"
    report = to_cases(
        store,
        out,
        cases_root=config.cases,
        max_latency_ms=config.max_latency_ms,
        dry_run=args.dry_run,
    )
    verb = "would write" if args.dry_run else "wrote"
    for path, ids in report.written.items():
        print(f"{verb} {len(ids)} case(s) to {path}: {', '.join(ids)}")
    evals = [rid for rid, why in report.skipped if why.startswith("an eval failure")]
    for rid, why in report.skipped:
        if rid not in evals:
            print(f"skipped {rid}: {why}", file=sys.stderr)
    if evals:  # one line, not one per failed check: their cases exist already
        print(
            f"skipped {len(evals)} eval failure(s) without an expected answer: their cases exist "
            "(add `expected` to one to turn it into a content case)",
            file=sys.stderr,
        )
    done = "would mark" if args.dry_run else "marked"
    print(f"{done} {len(report.converted)} record(s) converted; {len(report.skipped)} skipped")
    return 0


def _export(args: argparse.Namespace) -> int:
    from llmops.feedback.convert import training_rows, write_jsonl

    config, store = _setup(args)
    snap = store.read()
    _warn(snap.problems)
    rows = training_rows(
        snap.records, args.fmt, system=args.system, include_positive=args.include_positive
    )
    write_jsonl(rows, config.resolve(args.out) if args.out else None)
    print(f"exported {len(rows)} example(s) ({args.fmt})", file=sys.stderr)
    return 0


def _stats(args: argparse.Namespace) -> int:
    import json

    from llmops.feedback.stats import render, stats

    _, store = _setup(args)
    snap = store.read()
    _warn(snap.problems)
    summary = stats(snap.records)
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 0


def _list(args: argparse.Namespace) -> int:
    import json

    _, store = _setup(args)
    snap = store.read()
    _warn(snap.problems)
    rows = [
        r
        for r in snap.records
        if (not args.status or r.get("status") == args.status)
        and (not args.category or r.get("category") == args.category)
        and (not args.source or r.get("source") == args.source)
    ]
    if args.limit > 0:
        rows = rows[-args.limit :]
    for r in rows:
        if args.json:
            print(json.dumps(r, ensure_ascii=False))
            continue
        prompt = " ".join(str(r.get("prompt") or "").split())
        prompt = prompt if len(prompt) <= 50 else prompt[:49] + "…"
        print(
            f"{r['id']}  {str(r.get('timestamp', ''))[:10]}  {r.get('source', ''):<4}  "
            f"{r.get('rating')!s:<4}  {r.get('category') or '-':<20}  {r.get('status', ''):<9}  "
            f"{prompt}"
        )
    return 0
