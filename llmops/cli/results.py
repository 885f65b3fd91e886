"""`llmops results merge FILES... -o OUT`: the results of the shards of one run, as one run's."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="work with results files (merge shards)")
    cmds = p.add_subparsers(dest="results_command", metavar="SUBCOMMAND", required=True)
    m = cmds.add_parser(
        "merge", help="merge the results of `pytest evals/ --shard I/N` into one results file",
        description="Check that FILES are the N shards of one run (same commit, cases digest, "
        "selection and target; each shard once, none missing; no case in two shards; figures "
        "that add up; signed when LLMOPS_RESULTS_KEY is set) and write the results of that run: "
        "records, statistics, summary and coverage recomputed as an unsharded run computes "
        "them, signed with LLMOPS_RESULTS_KEY when it is set. Exit 2, naming every problem, "
        "when they are not.",
    )
    m.add_argument("files", nargs="+", type=Path, metavar="FILE", help="a shard's results.json")
    m.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                   help="where to write the merged results.json")
    m.set_defaults(func=_merge)


def _merge(args: argparse.Namespace) -> int:
    from llmops import integrity
    from llmops.errors import InputError
    from llmops.fileio import write_json
    from llmops.gate import read_results
    from llmops.shards import Part, merge

    parts = []
    for path in args.files:
        got = read_results(path)  # InputError (exit 2) naming the file: missing, not JSON, schema
        parts.append(Part(str(path), got.data, got.digest))
    if len({p.resolve() for p in args.files}) < len(args.files):
        raise InputError("results merge: a file is given more than once: "
                         + ", ".join(str(p) for p in args.files))
    key = integrity.results_key()
    doc = merge(parts, key)
    if key is not None:
        integrity.sign(doc, key)
    try:
        write_json(args.output, doc)
    except OSError as exc:
        raise InputError(f"{args.output}: cannot write: {exc.strerror or exc}") from exc
    s, run = doc["summary"], doc["run"]
    cov = run["coverage"]
    print(f"merged {len(parts)} shard(s) of commit {str(run.get('git_commit'))[:12]} "
          f"(cases digest {run['cases_digest'][:12]}): {s['cases']} case(s), {s['checks']} "
          f"check(s), pass rate {s['pass_rate']:.2%}, coverage {cov['selected']}/"
          f"{cov['defined']} case(s)" + (" (complete)" if cov["complete"] else " (partial)")
          + (", signed" if key is not None else "") + f" -> {args.output}")
    return 0
