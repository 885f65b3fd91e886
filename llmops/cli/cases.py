"""`llmops cases validate [PATH...]` and `llmops cases list [PATH...]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.cases import LoadResult


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cases", help="validate and list YAML cases")
    cmds = p.add_subparsers(dest="cases_command", metavar="COMMAND", required=True)
    v = cmds.add_parser("validate", help="check case files; exit 0 if valid, 2 if not")
    v.add_argument("paths", nargs="*", type=Path, help="files or directories (default: cases/)")
    v.set_defaults(func=validate)
    ls = cmds.add_parser("list", help="show case ids, suites, tags and severity")
    ls.add_argument("paths", nargs="*", type=Path, help="files or directories (default: cases/)")
    ls.add_argument("--json", action="store_true", help="one JSON object a line")
    ls.set_defaults(func=list_cases)


def _load(paths: list[Path]) -> LoadResult:
    from llmops.cases import load_cases
    from llmops.config import load_config
    from llmops.errors import InputError

    cfg = load_config()
    paths = paths or [cfg.cases]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or directory")
    return load_cases(paths, max_latency_ms=cfg.max_latency_ms, root=Path.cwd())


def validate(args: argparse.Namespace) -> int:
    loaded = _load(args.paths)
    for err in loaded.errors:
        print(err, file=sys.stderr)
    for warning in loaded.warnings:
        where = f"{warning.file}:{warning.line}" if warning.line else warning.file
        print(f"{where}: warning: {warning.message}", file=sys.stderr)
    n_files = len(loaded.files)
    if loaded.errors:
        print(f"{len(loaded.errors)} error(s) in {n_files} file(s); "
              f"{len(loaded.cases)} valid case(s)", file=sys.stderr)
        return 2
    print(f"ok: {len(loaded.cases)} case(s) in {n_files} file(s)")
    return 0


def list_cases(args: argparse.Namespace) -> int:
    loaded = _load(args.paths)
    rows = [
        {"id": c.id, "suite": c.suite, "tags": list(c.tags), "severity": c.severity,
         "checks": c.checks(), "location": c.location}
        for c in loaded.cases
    ]
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        w_id = max([len(r["id"]) for r in rows] + [2])
        w_suite = max([len(r["suite"]) for r in rows] + [5])
        print(f"{'ID':<{w_id}}  {'SUITE':<{w_suite}}  {'SEVERITY':<8}  TAGS")
        for r in rows:
            print(f"{r['id']:<{w_id}}  {r['suite']:<{w_suite}}  {r['severity']:<8}  "
                  f"{','.join(r['tags'])}")
    for err in loaded.errors:
        print(err, file=sys.stderr)
    return 2 if loaded.errors else 0
