"""`llmops compare BASE NEW`: two runs side by side, as text, JSON or an HTML page.

Exit codes: 0 no regression, 1 a check regressed (the gate's rule), 2 bad input (a missing,
unreadable or invalid results file; scipy missing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two results files: rates, intervals, p-values, changed cases",
        description="Per check the two pass rates, the change with its 95%% interval and "
        "one-sided p-value (Fisher's exact test); cases newly failing and newly passing; the "
        "latency shift. Regressions follow the gate's rule ([tool.llmops.gate] alpha). Exit 1 "
        "when a check regressed.",
    )
    p.add_argument("base", help="results of the baseline run (e.g. stable's)")
    p.add_argument("new", help="results of the new run")
    p.add_argument("--html", metavar="PATH", help="also write a self-contained HTML page here")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from llmops import compare, gate
    from llmops.config import load_config
    from llmops.fileio import write_atomic

    config = load_config()
    policy = gate.Policy.from_table(config.gate)
    base, new = gate.read_results(args.base), gate.read_results(args.new)
    result = compare.compare(base, new, policy.alpha)
    if args.html:
        from llmops.pii import detector_from_config

        redact = detector_from_config(config).redact
        write_atomic(Path(args.html), compare.to_html(result, base, new, redact))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print("\n".join(compare.lines(result)))
        if args.html:
            print(f"html: {args.html}")
    return 1 if result["regressions"] else 0
