"""The HTML report of a run: one self-contained page rendered from results.json (and, when the run
was gated, the gate's decision). No script, no external resource: it opens from a CI artifact.

What it shows: a header that counts cases and checks (not pytest items), the run's coverage,
provenance and concurrency; the gate's verdict with its rules and reasons; a table by suite (pass
rate, latency percentiles); then every case: severity, where it is defined, the whole redacted
conversation and answer (each exchange once, from `exchanges`), one error line per failed
exchange, every check's verdict with its message and the spans of its findings. Failing cases
come first and open. Every string is HTML-escaped; the texts are the redacted ones results.json
holds, so the page holds nothing results.json does not.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from llmops import stats
from llmops.quantiles import quantiles
from llmops.textsafe import printable

#: Rows of notable pass rates the terminal and the HTML reports show (all are in results.json).
RATE_ROWS = 30

_RANK = {"error": 0, "failed": 1, "passed": 2, "skipped": 3}
_SEVERITY = {"critical": 0, "major": 1, "minor": 2}
_PLACEHOLDER = re.compile(r"&lt;([A-Z][A-Z0-9_]*)&gt;")


def render(doc: Mapping[str, Any], decision: Any | None = None) -> str:
    return "".join(pieces(doc, decision))


def pieces(doc: Mapping[str, Any], decision: Any | None = None) -> Iterator[str]:
    """`render`'s page in pieces, a case at a time, for writing a large run's page without
    holding it whole."""
    run, summary, records = doc["run"], doc["summary"], doc["results"]
    exchanges = doc.get("exchanges") or []
    by_case: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for rec in records:
        by_case[rec["case_id"]].append(rec)
    cases = sorted(by_case.items(), key=lambda kv: (_case_rank(kv[1]), kv[0]))
    parts = itertools.chain(
        (_head(run),
         _header(run, summary,
                 len([c for c in by_case if by_case[c][0]["check"] != "case_file"])),
         _gate(decision),
         _suites(records, exchanges),
         _redteam(doc.get("redteam")),
         _rates(doc),
         "<h2>Cases</h2>"),
        (_case(case_id, recs, exchanges) for case_id, recs in cases),
        ("</body></html>\n",),
    )
    first = True
    for part in parts:
        if part:
            yield part if first else "\n" + part
            first = False


def _e(value: Any) -> str:
    """Escaped for HTML, control and invisible characters shown as escapes (an ANSI sequence
    from a bot's error body must reach no reader raw)."""
    return html.escape(printable("" if value is None else str(value)), quote=True)


def _case_rank(recs: list[Mapping[str, Any]]) -> tuple[int, int]:
    worst = min(_RANK.get(r["outcome"], 9) for r in recs)
    return worst, _SEVERITY.get(recs[0]["severity"], 9)


def _verdict(recs: list[Mapping[str, Any]]) -> str:
    outcomes = {r["outcome"] for r in recs}
    for o in ("error", "failed", "passed"):
        if o in outcomes:
            return o
    return "skipped"


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;
color:#222}
h1{margin-bottom:.2em} h2{margin-top:1.6em} table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .num{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#176b2c}.failed{color:#b3261e}.error{color:#8a4b00}.skipped{color:#666}
.badge{display:inline-block;padding:0 .5em;border-radius:.6em;font-weight:600;font-size:.9em}
.b-passed{background:#dff3e4}.b-failed{background:#fbe0dd}.b-error{background:#fdebd3}
.b-skipped{background:#eee}.allowed{background:#dff3e4}.blocked{background:#fbe0dd}
.box{padding:.6em 1em;border-radius:.4em;margin:.8em 0}
details{border:1px solid #ddd;border-radius:.4em;margin:.4em 0;padding:.3em .8em}
summary{cursor:pointer} pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;
padding:.5em;margin:.3em 0;border-radius:.3em} mark{background:#ffe08a}
.role{font-weight:600;color:#555} .meta{color:#555} .errline{color:#8a4b00;font-weight:600}
"""


def _head(run: Mapping[str, Any]) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>llmops evals: {_e(run.get('target'))}</title><style>{CSS}</style></head>"
            "<body>")


def _header(run: Mapping[str, Any], s: Mapping[str, Any], cases: int) -> str:
    counts = (f"<b>{cases}</b> cases, <b>{s['checks']}</b> checks: "
              f"<span class=passed>{s['passed']} passed</span>, "
              f"<span class=failed>{s['failed']} failed</span>, "
              f"<span class=error>{s['errors']} errors</span>"
              + (f", <span class=skipped>{s.get('skipped', 0)} skipped</span>"
                 if s.get("skipped") else "")
              + f"; pass rate {s['pass_rate'] * 100:.1f}%")
    lat = s["latency_ms"]
    rows = [
        ("Target", _e(run.get("target"))
         + (f" (chatbot version {_e(run['chatbot_version'])})" if run.get("chatbot_version")
            else "")),
        ("Commit", _e(run.get("git_commit") or "not a git checkout")
         + (" <b class=failed>(dirty: " + _e(", ".join(run.get("git_dirty_paths") or []))
            + ")</b>" if run.get("git_dirty") else "")),
        ("Run", f"{_e(run.get('started_at'))} to {_e(run.get('finished_at'))}, "
         f"id {_e(run.get('id'))}, llmops {_e(run.get('llmops_version'))}"),
        ("Latency", " ".join(f"{q} {_ms(lat.get(q))}" for q in ("p50", "p95", "p99", "max"))),
    ]
    cov = run.get("coverage")
    if cov:
        sel = _selection(run.get("selection") or {})
        text = (f"{cov['selected']} of {cov['defined']} cases defined in "
                f"{_e(cov.get('cases_dir', ''))}")
        rows.append(("Coverage", (text + " (complete)") if cov.get("complete") else
                     f"<b class=failed>partial</b>: {text}" + (f", selected with {_e(sel)}"
                                                              if sel else "")))
    conc = run.get("concurrency_control")
    if isinstance(conc, Mapping):
        rows.append(("Concurrency", _e(_concurrency(conc))))
    gen = run.get("generation")
    if isinstance(gen, Mapping):
        rows.append(("Generation", _e(", ".join(f"{k} {json.dumps(v)}" for k, v in gen.items()))
                     + " (a case's own settings are with its exchange in results.json)"))
    if run.get("case_file_errors"):
        rows.append(("Case file errors", "<br>".join(_e(e) for e in run["case_file_errors"])))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<h1>llmops evals</h1><p>{counts}</p><table>{table}</table>"


def _concurrency(c: Mapping[str, Any]) -> str:
    from llmops.concurrency import describe

    return describe(c)


def _selection(sel: Mapping[str, Any]) -> str:
    out = []
    for key, flag in (("keyword", "-k"), ("markers", "-m"), ("cases", "--cases")):
        if sel.get(key):
            out.append(f"{flag} {sel[key]}")
    shard = sel.get("shard")
    if isinstance(shard, Mapping):
        out.append(f"--shard {shard.get('index')}/{shard.get('count')}")
    return " ".join(out)


def _gate(decision: Any | None) -> str:
    if decision is None:
        return ""
    cls = "allowed" if decision.allowed else "blocked"
    rules = "".join(
        f"<tr><td>{_e(r.label)}</td><td>{_e(r.value)}</td><td>{_e(r.limit)}</td>"
        f"<td class={'passed' if r.ok else 'failed'}>{'ok' if r.ok else 'FAIL'}</td></tr>"
        for r in decision.rules
    )
    reasons = "".join(f"<li>{_e(r.message)}</li>" for r in decision.reasons[:50])
    more = len(decision.reasons) - 50
    return (f"<div class='box {cls}' id=gate><b>Gate: {cls.upper()}</b> "
            f"{_e(decision.summary_line())}</div>"
            f"<table><tr><th>Rule</th><th>Value</th><th>Limit</th><th></th></tr>{rules}</table>"
            + (f"<p>Blocked because:</p><ul>{reasons}"
               + (f"<li>... and {more} more</li>" if more > 0 else "") + "</ul>"
               if reasons else ""))


def _suites(records: list[Mapping[str, Any]], exchanges: list[Mapping[str, Any]]) -> str:
    rows = []
    lat: dict[str, list[float]] = defaultdict(list)
    suite_of = {r["case_id"]: r["suite"] for r in records}
    for ex in exchanges:
        if ex.get("error_type") is None and ex.get("latency_ms") is not None:
            lat[suite_of.get(ex["case_id"], "?")].append(ex["latency_ms"])
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["suite"]].append(r)
    for suite in sorted(groups):
        recs = [r for r in groups[suite] if r["outcome"] != "skipped"]
        n = len(recs)
        passed = sum(r["outcome"] == "passed" for r in recs)
        q = lat.get(suite, [])
        pct = quantiles(q, (0.5, 0.95)) if q else [None, None]
        rows.append(
            f"<tr><td>{_e(suite)}</td><td class=num>{len({r['case_id'] for r in groups[suite]})}"
            f"</td><td class=num>{n}</td><td class='num passed'>{passed}</td>"
            f"<td class='num failed'>{sum(r['outcome'] == 'failed' for r in recs)}</td>"
            f"<td class='num error'>{sum(r['outcome'] == 'error' for r in recs)}</td>"
            f"<td class=num>{(passed / n * 100 if n else 0):.1f}%</td>"
            f"<td class=num>{_ms(pct[0])}</td><td class=num>{_ms(pct[1])}</td>"
            f"<td class=num>{_ms(max(q) if q else None)}</td></tr>"
        )
    return ("<h2>By suite</h2><table><tr><th>Suite</th><th>Cases</th><th>Checks</th>"
            "<th>Passed</th><th>Failed</th><th>Errors</th><th>Pass rate</th><th>p50</th>"
            "<th>p95</th><th>max</th></tr>" + "".join(rows) + "</table>")


def _rates(doc: Mapping[str, Any]) -> str:
    """Pass rates with their intervals and the flaky cases, when the run has `stats`."""
    if not doc.get("stats"):
        return ""
    return rates_html(doc)


def rates_html(doc: Mapping[str, Any]) -> str:
    """The pass-rate section of both HTML reports, llmops' own and pytest-html's (every string
    escaped)."""
    esc = html.escape
    out = ["<h2>Pass rates (95% Wilson intervals)</h2>",
           f"<p>{esc(stats.summary_text(doc['summary']))}</p>"]
    rows = stats.notable(doc["stats"])
    if rows:
        out.append("<table id='llmops-rates'><thead><tr><th>Verdict</th><th>Case</th>"
                   "<th>Check</th><th>Pass rate [95% interval]</th><th>Min</th><th>Flaky</th>"
                   "</tr></thead><tbody>")
        for r in rows[:RATE_ROWS]:
            out.append(
                f"<tr><td>{esc(r['verdict'])}</td><td>{esc(r['case_id'])}</td>"
                f"<td>{esc(r['check'])}</td><td>{esc(stats.rate_text(r))}</td>"
                f"<td>{esc(stats.pct(r['min_pass_rate']))}</td>"
                f"<td>{'yes' if r['flaky'] else ''}</td></tr>"
            )
        out.append("</tbody></table>")
        if len(rows) > RATE_ROWS:
            out.append(f"<p>… and {len(rows) - RATE_ROWS} more in results.json</p>")
    else:
        out.append("<p>Every check passed on every sample.</p>")
    return "".join(out)


def _redteam(summary: Mapping[str, Any] | None) -> str:
    """Probes resisted by OWASP category and strategy, when red-team cases ran."""
    if not summary:
        return ""
    from llmops.redteam.report import html_tables

    return html_tables(summary)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _text(value: str | None) -> str:
    """Escaped, with the redaction placeholders marked."""
    return _PLACEHOLDER.sub(r"<mark>&lt;\1&gt;</mark>", _e(value or ""))


def _case(case_id: str, recs: list[Mapping[str, Any]], exchanges: list[Mapping[str, Any]]
          ) -> str:
    first = recs[0]
    verdict = _verdict(recs)
    where = f"{first['file']}:{first['line']}" if first.get("line") else first["file"]
    head = (f"<summary><span class='badge b-{verdict}'>{verdict}</span> "
            f"<b>{_e(first['suite'])}/{_e(case_id)}</b> <span class=meta>{_e(first['severity'])}"
            f" · {_e(where)} · {len(recs)} check(s)</span></summary>")
    body = []
    if first["check"] == "case_file":
        body.append("<pre>" + _e("\n".join(r["message"] for r in recs)) + "</pre>")
    repeats = sorted({r.get("repeat") or 1 for r in recs})
    for repeat in repeats:
        these = [r for r in recs if (r.get("repeat") or 1) == repeat]
        if len(repeats) > 1:
            body.append(f"<h4>Sample {repeat}</h4>")
        ex = _exchange_of(these, exchanges)
        if ex is not None:
            for m in ex.get("messages") or ():
                body.append(f"<div class=role>{_e(m.get('role'))}</div><pre>"
                            f"{_text(m.get('content'))}</pre>")
            if ex.get("error_type"):
                body.append(f"<p class=errline>The target failed ({_e(ex['error_type'])}) after "
                            f"{_e(ex.get('attempts'))} attempt(s): {_e(ex.get('error'))}</p>")
            else:
                body.append(f"<div class=role>answer ({_ms(ex.get('latency_ms'))})</div>"
                            f"<pre>{_text(ex.get('response'))}</pre>")
        elif first["check"] != "case_file":
            body.append(f"<div class=role>prompt</div><pre>{_text(first.get('prompt'))}</pre>")
            if first.get("response_excerpt") is not None:
                body.append(f"<div class=role>answer (excerpt)</div>"
                            f"<pre>{_text(first['response_excerpt'])}</pre>")
        rows = []
        for r in these:
            failed_exchange = ex is not None and ex.get("error_type") and r["outcome"] == "error"
            message = "the target failed (above)" if failed_exchange else r.get("message") or ""
            spans = ", ".join(f"{f['type']} at {f['start']}-{f['end']}"
                              for f in r.get("findings") or ())
            rows.append(f"<tr><td>{_e(r['check'])}</td><td class={r['outcome']}>"
                        f"{_e(r['outcome'])}</td><td>{_e(message)}</td><td>{_e(spans)}</td></tr>")
        body.append("<table><tr><th>Check</th><th>Verdict</th><th>Message</th>"
                    "<th>Findings (spans in the answer)</th></tr>" + "".join(rows) + "</table>")
    opened = " open" if verdict in ("failed", "error") else ""
    return f"<details{opened} id='case-{_e(case_id)}'>{head}{''.join(body)}</details>"


def _exchange_of(recs: list[Mapping[str, Any]], exchanges: list[Mapping[str, Any]]
                 ) -> Mapping[str, Any] | None:
    for r in recs:
        i = r.get("exchange")
        if isinstance(i, int) and 0 <= i < len(exchanges):
            return exchanges[i]
    return None
