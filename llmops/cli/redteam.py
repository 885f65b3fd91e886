"""`llmops redteam generate|list|report`: red-team probes as case files, and their report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("redteam", help="generate red-team probes (OWASP LLM Top 10) as cases")
    cmds = p.add_subparsers(dest="redteam_command", metavar="COMMAND", required=True)
    g = cmds.add_parser(
        "generate",
        help="write probe case files (plugins x strategies x seeds); deterministic per --seed",
    )
    g.add_argument("--out", type=Path, help="directory to write into (default cases/redteam)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--plugins", nargs="+", metavar="NAME",
                   help="plugins to use (default all; see `llmops redteam list`)")
    g.add_argument("--strategies", nargs="+", metavar="NAME",
                   help="strategies to use (default all; see `llmops redteam list`)")
    g.set_defaults(func=generate)
    ls = cmds.add_parser("list", help="show the plugins and strategies")
    ls.set_defaults(func=list_parts)
    r = cmds.add_parser("report", help="the resisted-probe tables of a results.json")
    r.add_argument("results", nargs="?", type=Path, help="default REPORTS/results.json")
    r.add_argument("--json", action="store_true", help="print the tables as JSON")
    r.set_defaults(func=report)


def generate(args: argparse.Namespace) -> int:
    from llmops.cases import load_cases
    from llmops.config import load_config
    from llmops.redteam.generate import DEFAULT_OUT, documents, write

    cfg = load_config()
    out = args.out if args.out is not None else cfg.resolve(DEFAULT_OUT)
    docs = documents(args.seed, args.plugins, args.strategies)
    paths = write(out, docs)
    # Validated like any other case file: a generator bug must not reach a run.
    loaded = load_cases(paths, max_latency_ms=cfg.max_latency_ms, root=Path.cwd())
    for err in loaded.errors:
        print(err, file=sys.stderr)
    if loaded.errors:
        return 2
    print(f"wrote {len(loaded.cases)} probe(s) in {len(paths)} file(s) to {out} "
          f"(seed {args.seed}); run them with: pytest evals/ --cases {out}")
    return 0


def list_parts(args: argparse.Namespace) -> int:
    from llmops.redteam.plugins import OWASP, PLUGINS
    from llmops.redteam.strategies import STRATEGIES

    print("plugins:")
    for p in PLUGINS:
        print(f"  {p.name:<26} {p.owasp} {OWASP[p.owasp]:<33} {len(p.seeds)} seeds, "
              f"{p.severity}: {p.description}")
    print("strategies:")
    for s in STRATEGIES:
        print(f"  {s.name:<12} {s.description}")
    return 0


def report(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.gate import read_results
    from llmops.redteam.report import lines, summarize

    path = args.results or load_config().reports / "results.json"
    results = read_results(path)
    table = summarize(results.records)
    if table is None:
        print(f"{path}: no red-team probes (cases tagged owasp:...) in these results",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        print("\n".join(lines(table)))
    return 0 if table["overall"]["resisted"] == table["overall"]["probes"] else 1
