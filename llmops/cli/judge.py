"""`llmops judge calibrate FILE [--min-kappa K] [--check judge|similar_to] [--json]`.

Grades human-labelled examples with the configured judge (`[tool.llmops.judge]`), or scores them
with `similar_to` (`[tool.llmops.embeddings]`), and prints the agreement with the labels:
accuracy, Cohen's kappa, the confusion table and the disagreements. Exit 1 when kappa is below
`--min-kappa`, 2 on a bad file or configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="measure an LLM judge (or similar_to) against human labels")
    cmds = p.add_subparsers(dest="judge_command", metavar="COMMAND", required=True)
    cal = cmds.add_parser("calibrate", help="agreement of the judge with labelled examples; "
                                            "exit 1 below --min-kappa")
    cal.add_argument("file", help="labelled examples (YAML or JSONL)")
    cal.add_argument("--check", choices=("judge", "similar_to"), default="judge",
                     help="what to calibrate (default judge)")
    cal.add_argument("--min-kappa", type=float, help="exit 1 when Cohen's kappa is below this")
    cal.add_argument("--min-similarity", type=float,
                     help="similar_to threshold (default [tool.llmops.embeddings])")
    cal.add_argument("--no-cache", action="store_true", help="ask the judge even when cached")
    cal.add_argument("--json", action="store_true", help="print the figures as JSON")
    cal.set_defaults(func=calibrate_command)


def calibrate_command(args: argparse.Namespace) -> int:
    from llmops.config import load_config
    from llmops.errors import InputError
    from llmops.quality import calibrate
    from llmops.quality.services import Quality

    if args.min_kappa is not None and not -1 <= args.min_kappa <= 1:
        raise InputError(f"--min-kappa {args.min_kappa}: expected a number in [-1, 1]")
    examples = calibrate.load_examples(Path(args.file))
    cfg = load_config()
    judge_table = {**cfg.judge, **({"cache": False} if args.no_cache else {})}
    quality = Quality.from_config(cfg.with_overrides(judge=judge_table))
    start = time.perf_counter()
    if args.check == "judge":
        agreement = calibrate.calibrate_judge(examples, quality.judge)
        title = f"judge {quality.judge.name} on {args.file}"
        stats = quality.judge.stats.as_dict()
    else:
        threshold = (args.min_similarity if args.min_similarity is not None
                     else quality.min_similarity)
        agreement = calibrate.calibrate_similarity(examples, quality.embedder().embed, threshold)
        title = f"similar_to ({quality.embedding_settings.provider}) on {args.file}"
        stats = {}
    seconds = time.perf_counter() - start
    if args.json:
        doc = {**agreement.as_dict(), "seconds": round(seconds, 3)}
        if stats:
            doc["judge"] = stats
        print(json.dumps(doc, indent=2))
    else:
        print(calibrate.render(agreement, title=title))
        extra = (f"; {stats['calls']} judge calls, {stats['cached']} cached"
                 if stats else "")
        print(f"\n{seconds:.1f} s{extra}")
    if args.min_kappa is not None and agreement.kappa < args.min_kappa:
        if not args.json:
            print(f"kappa {agreement.kappa:.3f} is below --min-kappa {args.min_kappa}: do not "
                  "gate on this judge")
        return 1
    return 0
