"""Integrity of a results file: its figures agree with its records, and (optionally) CI signed it.

- `problems(data)` lists what does not add up: a summary that disagrees with the records (counts,
  latency percentiles recomputed over the exchanges), records of an outcome the summary lacks,
  latencies that are negative or not finite. The gate blocks on any of them.
- `sign(doc, key)` / `verify(data, key)`: an HMAC-SHA256 over the document's canonical JSON
  (sorted keys, no whitespace, the `signature` member left out), stored in the document itself as
  `signature: {alg, value}` so it travels with the file. CI signs with `LLMOPS_RESULTS_KEY`;
  `llmops promote` verifies whenever that variable is set, so a promotion proves the results are
  the ones CI produced, unedited. (HMAC: both sides hold the key; it proves origin to whoever
  holds the key, which is CI's secret store, not a public signature.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Mapping
from typing import Any

KEY_ENV = "LLMOPS_RESULTS_KEY"
ALG = "hmac-sha256"
#: Figures compared between summary and records may differ by rounding only.
TOLERANCE_MS = 0.01
#: How many records that disagree with their exchanges are named (a forged file may have many).
EVIDENCE_SHOWN = 20


def results_key() -> bytes | None:
    """The signing key from the environment (never from a file), or None."""
    value = os.environ.get(KEY_ENV)
    return value.encode() if value else None


def canonical(doc: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def digest(doc: Mapping[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(doc), hashlib.sha256).hexdigest()


def sign(doc: dict[str, Any], key: bytes) -> dict[str, Any]:
    doc["signature"] = {"alg": ALG, "value": digest(doc, key)}
    return doc


def verify(data: Mapping[str, Any], key: bytes) -> str | None:
    """None when `data` carries a valid signature under `key`, else why not."""
    sig = data.get("signature")
    if not isinstance(sig, Mapping) or not sig.get("value"):
        return "the results are not signed (CI signs them when LLMOPS_RESULTS_KEY is set)"
    if sig.get("alg") != ALG:
        return f"unknown signature algorithm {sig.get('alg')!r}"
    try:
        want = digest(data, key)
    except ValueError:  # a non-finite number cannot have been signed
        return "the results hold a number that is not finite"
    if not hmac.compare_digest(want, str(sig["value"])):
        return ("the signature does not match: the results were changed after CI wrote them, "
                "or signed with another key")
    return None


def reject_constant(name: str) -> Any:
    """`json.loads(parse_constant=...)`: NaN and Infinity are not JSON and never valid here."""
    raise ValueError(f"{name} is not a valid JSON number")


def problems(data: Mapping[str, Any]) -> list[str]:
    """What does not add up in a (schema-valid) results document; empty when it is consistent."""
    from llmops.results import summarize

    out: list[str] = []
    records = data["results"]
    for i, rec in enumerate(records):
        lat = rec.get("latency_ms")
        if lat is not None and (not math.isfinite(lat) or lat < 0):
            out.append(f"record {i} ({rec['case_id']} {rec['check']}): latency {lat!r}")
    if out:
        return out
    out.extend(_evidence_problems(records, data.get("exchanges")))
    summary = data["summary"]
    again = summarize(list(records))
    for key in ("cases", "checks", "passed", "failed", "errors"):
        if summary.get(key) != again[key]:
            out.append(f"summary {key} is {summary.get(key)!r} but the records give {again[key]}")
    if "skipped" in summary and summary["skipped"] != again["skipped"]:
        out.append(f"summary skipped is {summary['skipped']!r} but the records give "
                   f"{again['skipped']}")
    for q in ("p50", "p95", "p99", "max"):
        got, want = summary["latency_ms"].get(q), again["latency_ms"][q]
        if (got is None) != (want is None) or (
            got is not None and not (math.isfinite(got) and abs(got - want) <= TOLERANCE_MS)
        ):
            out.append(f"summary latency {q} is {got!r} but the records give {want!r}")
    rate = summary.get("pass_rate")
    if not isinstance(rate, int | float) or abs(rate - again["pass_rate"]) > 1e-6:
        out.append(f"summary pass_rate is {rate!r} but the records give {again['pass_rate']}")
    return out


def _evidence_problems(records: list[Mapping[str, Any]], exchanges: Any) -> list[str]:
    """A record's exchange (the evidence its verdict rests on) must be the same sample: same
    case, same repeat, the same latency and error. An edit to one and not the other shows."""
    if exchanges is None:
        return []
    out: list[str] = []
    for i, rec in enumerate(records):
        if len(out) >= EVIDENCE_SHOWN:  # enough to show the file was edited
            break
        at = rec.get("exchange")
        if at is None:
            continue
        where = f"record {i} ({rec['case_id']} {rec['check']})"
        if not isinstance(at, int) or isinstance(at, bool) or not 0 <= at < len(exchanges):
            out.append(f"{where}: exchange {at!r} is not in the run's {len(exchanges)} exchanges")
            continue
        ex = exchanges[at]
        if (ex.get("case_id"), ex.get("repeat")) != (rec["case_id"], rec.get("repeat") or 1):
            out.append(f"{where}: exchange {at} is {ex.get('case_id')!r} repeat "
                       f"{ex.get('repeat')!r}, not this record's sample")
            continue
        got, want = rec.get("latency_ms"), ex.get("latency_ms")
        if (got is None) != (want is None) or (
            got is not None and abs(got - want) > TOLERANCE_MS
        ):
            out.append(f"{where}: latency {got!r} but its exchange says {want!r}")
        if rec.get("error_type") != ex.get("error_type"):
            out.append(f"{where}: error {rec.get('error_type')!r} but its exchange says "
                       f"{ex.get('error_type')!r}")
    return out[:EVIDENCE_SHOWN]
