"""`llmops pii scan [FILE|-]` and `llmops pii redact [FILE|-]`.

scan prints one finding a line (type, start, end, score; `--json` for JSON objects) and exits 1
if anything was found, 0 if not; the matched text only with `--show-text`. Offsets are character
offsets into the input as read (line endings kept). redact prints the input with every finding
replaced by "<ENTITY_TYPE>". Both use `[tool.llmops.pii]` (allowlist, regions, threshold) unless
`--no-allow` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.pii import Detector


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pii", help="find or redact PII and financial details in text")
    cmds = p.add_subparsers(dest="pii_command", metavar="COMMAND", required=True)

    scan = cmds.add_parser("scan", help="list findings; exit 1 if any, 0 if none")
    scan.add_argument("file", nargs="?", default="-", help="a text file, or - for stdin")
    scan.add_argument("--json", action="store_true", help="one JSON object a line")
    scan.add_argument(
        "--show-text", action="store_true", help="also print the matched text (careful)"
    )
    scan.add_argument("--types", help="only these entity types (comma-separated)")
    scan.add_argument("--no-allow", action="store_true", help="ignore the configured allowlist")
    scan.set_defaults(func=scan_command)

    red = cmds.add_parser("redact", help="print the text with findings as <ENTITY_TYPE>")
    red.add_argument("file", nargs="?", default="-", help="a text file, or - for stdin")
    red.add_argument("--no-allow", action="store_true", help="ignore the configured allowlist")
    red.set_defaults(func=redact_command)


def _read(name: str) -> str:
    from llmops.errors import InputError

    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{name}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        label = "<stdin>" if name == "-" else name
        raise InputError(f"{label}:{line}: not UTF-8 text") from None


def _detector(args: argparse.Namespace) -> Detector:
    from llmops.config import load_config
    from llmops.errors import InputError
    from llmops.pii import detector_from_config, get_detector

    if args.no_allow:
        return get_detector()
    cfg = load_config()
    try:
        return detector_from_config(cfg)
    except ValueError as exc:  # an unknown phone region, a bad threshold
        raise InputError(f"{cfg.root / 'pyproject.toml'}: [tool.llmops.pii]: {exc}") from None


def scan_command(args: argparse.Namespace) -> int:
    from llmops.errors import InputError
    from llmops.pii import ALL_TYPES

    text = _read(args.file)
    types = None
    if args.types:
        types = {t.strip().upper() for t in args.types.split(",") if t.strip()}
        unknown = sorted(types - ALL_TYPES)
        if unknown:
            raise InputError(f"--types: unknown entity type {unknown[0]}")
    findings = _detector(args).scan(text, entities=types)
    out = sys.stdout
    for f in findings:
        if args.json:
            row = f.to_dict()
            if args.show_text:
                row["text"] = text[f.start : f.end]
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            cols = [f.type, str(f.start), str(f.end), f"{f.score:.2f}"]
            if args.show_text:
                cols.append(json.dumps(text[f.start : f.end], ensure_ascii=False))
            out.write("\t".join(cols) + "\n")
    return 1 if findings else 0


def redact_command(args: argparse.Namespace) -> int:
    text = _read(args.file)
    sys.stdout.write(_detector(args).redact(text))
    return 0
