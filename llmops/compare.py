"""Two runs side by side (`llmops compare BASE NEW`): per check the two pass rates, the change
with its 95% interval and one-sided p-value, the cases newly failing and newly passing, the
latency shift; and a self-contained HTML page that shows, for every case that changed, both runs'
redacted answers next to each other.

Regressions are the gate's (`gate.compare_runs`), so `compare` and `gate --baseline` agree.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Any

from llmops import gate, stats

#: Samples of a case shown per run on the HTML page (the failing ones first).
ANSWERS_SHOWN = 5
#: Check rows in the HTML table of changed rates (the JSON has them all).
CHECK_ROWS = 500
#: Characters of one answer shown (the whole redacted answer where the results keep it).
ANSWER_CHARS = 4000


def compare(base: gate.Results, new: gate.Results, alpha: float = 0.05) -> dict[str, Any]:
    """The comparison as a JSON-able dict (what `--json` prints)."""
    stats.require()
    b, n = base.data, new.data
    regressions, _, how = gate.compare_runs(b, n, alpha)
    base_t, new_t = stats.tallies(b["results"]), stats.tallies(n["results"])
    _, improvements, _ = stats.significant_drops(new_t, base_t, alpha)
    regressed = {(r["case_id"], r["check"]) for r in regressions}
    improved = {(d.case_id, d.check) for d in improvements}
    base_v, new_v = _verdicts(b), _verdicts(n)
    rows = []
    for key in sorted(base_t.keys() | new_t.keys()):
        bt, nt = base_t.get(key, stats.Tally()), new_t.get(key, stats.Tally())
        row: dict[str, Any] = {
            "case_id": key[0],
            "check": key[1],
            "base_passed": bt.passed,
            "base_samples": bt.samples,
            "new_passed": nt.passed,
            "new_samples": nt.samples,
            "base_rate": _rate(bt),
            "new_rate": _rate(nt),
            "diff": None,
            "diff_ci_low": None,
            "diff_ci_high": None,
            "p_value": None,
            "base_verdict": base_v["checks"].get(key),
            "new_verdict": new_v["checks"].get(key),
            "regression": key in regressed,
            "improvement": key in improved,
        }
        if bt.samples and nt.samples:
            low, high = stats.diff_interval(bt.passed, bt.samples, nt.passed, nt.samples)
            row.update(diff=nt.passed / nt.samples - bt.passed / bt.samples,
                       diff_ci_low=low, diff_ci_high=high, p_value=_one_sided(bt, nt))
        rows.append(row)
    cases_b, cases_n = base_v["cases"], new_v["cases"]
    both = cases_b.keys() & cases_n.keys()
    newly_failing = sorted(c for c in both if cases_b[c] == "passed" != cases_n[c])
    newly_passing = sorted(c for c in both if cases_n[c] == "passed" != cases_b[c])
    touched = {k[0] for k in regressed | improved}
    changed = sorted(
        {c for c in both if cases_b[c] != cases_n[c]} | touched
        | (cases_b.keys() ^ cases_n.keys())
    )
    return {
        "base": _run(base),
        "new": _run(new),
        "alpha": alpha,
        "method": how,
        "overall": {
            "pass_rate": gate.overall_rate(b, n),
            "p95_latency_ms": gate.overall_p95(b, n),
            "p50_latency_ms": {
                "base": b["summary"]["latency_ms"].get("p50"),
                "new": n["summary"]["latency_ms"].get("p50"),
            },
        },
        "regressions": regressions,
        "improvements": [{"case_id": d.case_id, "check": d.check, "p_value": d.p_value,
                          "base_passed": d.new_passed, "base_samples": d.new_samples,
                          "new_passed": d.base_passed, "new_samples": d.base_samples}
                         for d in improvements],
        "newly_failing": newly_failing,
        "newly_passing": newly_passing,
        "only_in_base": sorted(cases_b.keys() - cases_n.keys()),
        "only_in_new": sorted(cases_n.keys() - cases_b.keys()),
        "changed_cases": [
            {"case_id": c, "base_verdict": cases_b.get(c), "new_verdict": cases_n.get(c)}
            for c in changed
        ],
        "checks": rows,
    }


def _rate(t: stats.Tally) -> float | None:
    return t.passed / t.samples if t.samples else None


def _one_sided(b: stats.Tally, n: stats.Tally) -> float:
    """The one-sided Fisher p-value in the direction the rate moved (1 when it did not)."""
    rb, rn = b.passed / b.samples, n.passed / n.samples
    if rn < rb:
        return stats.drop_p_value(b.passed, b.samples, n.passed, n.samples)
    if rn > rb:
        return stats.drop_p_value(n.passed, n.samples, b.passed, b.samples)
    return 1.0


def _verdicts(data: Mapping[str, Any]) -> dict[str, dict[Any, str]]:
    """Each check's and each case's verdict, recomputed from the records with the run's own
    thresholds (single samples: passed when every sample passed)."""
    thresholds = {s["case_id"]: s.get("min_pass_rate", 1.0) for s in data.get("stats") or ()}
    rows = stats.check_stats(data["results"], thresholds)
    checks = {(r["case_id"], r["check"]): r["verdict"] for r in rows}
    cases: dict[str, str] = {}
    for (case_id, _), v in checks.items():
        cases[case_id] = stats.worst_verdict([cases[case_id], v]) if case_id in cases else v
    return {"checks": checks, "cases": cases}


def _run(r: gate.Results) -> dict[str, Any]:
    run = r.data["run"]
    return {
        "path": str(r.path),
        "sha256": r.digest,
        "run_id": run.get("id"),
        "git_commit": run.get("git_commit"),
        "target": run.get("target"),
        "chatbot_version": run.get("chatbot_version"),
        "started_at": run.get("started_at"),
        "repeat": run.get("repeat", 1),
        "repeat_max": run.get("repeat_max"),
        "pass_rate": r.data["summary"].get("pass_rate"),
    }


# --------------------------------------------------------------------------- text


def lines(c: Mapping[str, Any]) -> list[str]:
    """The terminal report."""
    o = c["overall"]
    rate, p95 = o["pass_rate"], o["p95_latency_ms"]
    out = [
        f"llmops compare: {c['base']['path']} -> {c['new']['path']}",
        f"  pass rate {_pct(rate['base'])} -> {_pct(rate['new'])} (change {_pts(rate['diff'])}, "
        f"95% interval {_interval(rate, _pts)})",
        f"  p95 latency {_ms(p95['base'])} -> {_ms(p95['new'])} (change {_sms(p95['diff'])}, "
        f"95% interval {_interval(p95, _sms)})",
        f"  regressions: {len(c['regressions'])} ({c['method']})",
    ]
    for r in c["regressions"]:
        p = "" if r.get("p_value") is None else f", p {r['p_value']:.2g}"
        out.append(f"    {r['case_id']} [{r['check']}] {r['base_passed']}/{r['base_samples']} -> "
                   f"{r['new_passed']}/{r['new_samples']}{p}")
    if c["improvements"]:
        out.append(f"  significant improvements: {len(c['improvements'])}")
    for label, key in (("newly failing", "newly_failing"), ("newly passing", "newly_passing"),
                       ("only in base", "only_in_base"), ("only in new", "only_in_new")):
        if c[key]:
            shown = ", ".join(c[key][:20]) + (" ..." if len(c[key]) > 20 else "")
            out.append(f"  {label} ({len(c[key])}): {shown}")
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:.1f}%"


def _pts(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:+.1f} pts"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def _sms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.0f} ms"


def _interval(d: Mapping[str, Any], fmt: Callable[[float | None], str]) -> str:
    if d.get("ci_low") is None:
        return "n/a"
    return f"[{fmt(d['ci_low'])}, {fmt(d['ci_high'])}]"


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}.reg{background:#fde8e8}.imp{background:#e8f6e8}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:1em}.sides>div{min-width:0}
pre{white-space:pre-wrap;word-break:break-word;margin:.2em 0;background:#fafafa;padding:.4em}
li.fail pre{border-left:4px solid #c33}li.pass pre{border-left:4px solid #393}
ul.answers{list-style:none;padding:0}section.case{border-top:2px solid #ddd;margin-top:1.5em}
.verdict-failed,.verdict-error{color:#b00}.verdict-uncertain{color:#a60}.verdict-passed{color:#070}
"""


def to_html(
    c: Mapping[str, Any],
    base: gate.Results,
    new: gate.Results,
    redact: Callable[[str], str],
) -> str:
    """A self-contained page: no script, no external resource (its CSP forbids both), every
    string escaped and redacted again (results files come from anywhere)."""

    def e(text: Any) -> str:
        return html.escape(redact(str(text)), quote=True)

    o = c["overall"]
    rate, p95, p50 = o["pass_rate"], o["p95_latency_ms"], o["p50_latency_ms"]
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>llmops compare: {e(c['new']['run_id'] or '')}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>llmops compare</h1>",
        "<table id='runs'><tr><th></th><th>Baseline</th><th>New</th></tr>",
    ]
    for label, key in (("Results", "path"), ("Commit", "git_commit"), ("Target", "target"),
                       ("Chatbot version", "chatbot_version"), ("Started", "started_at"),
                       ("Run", "run_id"), ("sha256", "sha256")):
        out.append(f"<tr><th>{label}</th><td>{e(c['base'][key] or '')}</td>"
                   f"<td>{e(c['new'][key] or '')}</td></tr>")
    reps = [_repeats(c[k]) for k in ("base", "new")]
    out.append(f"<tr><th>Repeats</th><td>{e(reps[0])}</td><td>{e(reps[1])}</td></tr></table>")
    out += [
        "<h2>Overall</h2><table id='overall'><tr><th></th><th>Baseline</th><th>New</th>"
        "<th>Change [95% interval]</th></tr>",
        f"<tr><th>Pass rate</th><td>{_pct(rate['base'])}</td><td>{_pct(rate['new'])}</td>"
        f"<td>{_pts(rate['diff'])} {_interval(rate, _pts)}</td></tr>",
        f"<tr><th>p95 latency</th><td>{_ms(p95['base'])}</td><td>{_ms(p95['new'])}</td>"
        f"<td>{_sms(p95['diff'])} {_interval(p95, _sms)}</td></tr>",
        f"<tr><th>p50 latency</th><td>{_ms(p50['base'])}</td><td>{_ms(p50['new'])}</td>"
        "<td></td></tr></table>",
        f"<p>Regressions: <strong id='regression-count'>{len(c['regressions'])}</strong> "
        f"({e(c['method'])}). Significant improvements: {len(c['improvements'])}.</p>",
    ]
    for label, key in (("Newly failing", "newly_failing"), ("Newly passing", "newly_passing"),
                       ("Only in the baseline", "only_in_base"), ("Only in the new run",
                                                                   "only_in_new")):
        if c[key]:
            links = ", ".join(f"<a href='#{_anchor(x)}'>{e(x)}</a>" for x in c[key])
            out.append(f"<p id='{key.replace('_', '-')}'>{label} ({len(c[key])}): {links}</p>")
    changed_rows = [r for r in c["checks"] if r["diff"] or r["base_samples"] * r["new_samples"] == 0
                    or r["regression"] or r["improvement"]]
    if changed_rows:
        out.append("<h2>Checks whose pass rate changed</h2>"
                   + _check_table(changed_rows[:CHECK_ROWS], e))
        if len(changed_rows) > CHECK_ROWS:
            out.append(f"<p>… and {len(changed_rows) - CHECK_ROWS} more in the JSON (--json).</p>")
    out.append(f"<h2>Changed cases ({len(c['changed_cases'])})</h2>")
    if not c["changed_cases"]:
        out.append("<p id='no-changes'>No case changed its verdict.</p>")
    by_case_rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in c["checks"]:
        by_case_rows.setdefault(r["case_id"], []).append(r)
    samples_b, samples_n = _samples(base.data), _samples(new.data)
    for case in c["changed_cases"]:
        cid = case["case_id"]
        prompt = next((s["prompt"] for s in samples_n.get(cid, []) + samples_b.get(cid, [])
                       if s["prompt"]), "")
        out += [
            f"<section class='case' id='{_anchor(cid)}' data-case-id='{e(cid)}'>",
            f"<h3>{e(cid)}: <span class='verdict-{_cls(case['base_verdict'])}'>"
            f"{e(case['base_verdict'] or 'absent')}</span> → <span class='verdict-"
            f"{_cls(case['new_verdict'])}'>{e(case['new_verdict'] or 'absent')}</span></h3>",
            f"<p>Prompt (redacted): <q>{e(prompt)}</q></p>",
            _check_table(by_case_rows.get(cid, []), e),
            "<div class='sides'>",
            _answers("Baseline answers", "base", samples_b.get(cid, []), e, redact),
            _answers("New answers", "new", samples_n.get(cid, []), e, redact),
            "</div></section>",
        ]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _repeats(run: Mapping[str, Any]) -> str:
    if run.get("repeat_max"):
        return f"{run['repeat']}:{run['repeat_max']} (adaptive)"
    return str(run.get("repeat") or 1)


def _cls(verdict: str | None) -> str:
    return verdict if verdict in stats.VERDICTS else "none"


def _anchor(case_id: str) -> str:
    return "case-" + re.sub(r"[^A-Za-z0-9_.-]", "_", case_id)


def _check_table(rows: list[Mapping[str, Any]], e: Callable[[Any], str]) -> str:
    out = ["<table class='checks'><tr><th>Case</th><th>Check</th><th>Baseline</th><th>New</th>"
           "<th>Change [95% interval]</th><th>p (one-sided)</th><th>Verdicts</th></tr>"]
    for r in rows:
        cls = " class='reg'" if r["regression"] else " class='imp'" if r["improvement"] else ""
        ci = ("" if r["diff_ci_low"] is None
              else f" [{_pts(r['diff_ci_low'])}, {_pts(r['diff_ci_high'])}]")
        p = "" if r["p_value"] is None else f"{r['p_value']:.2g}"
        out.append(
            f"<tr{cls} data-check='{e(r['check'])}'><td>{e(r['case_id'])}</td>"
            f"<td>{e(r['check'])}</td>"
            f"<td>{r['base_passed']}/{r['base_samples']}</td>"
            f"<td>{r['new_passed']}/{r['new_samples']}</td><td>{_pts(r['diff'])}{ci}</td>"
            f"<td>{p}</td><td>{e(r['base_verdict'] or '-')} → {e(r['new_verdict'] or '-')}</td>"
            "</tr>"
        )
    return "".join(out) + "</table>"


def _samples(data: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per case, one entry per sample: its answer (whole, from `exchanges`, where the results
    keep it; else the record's excerpt), whether every check passed, and the messages of the
    checks that did not."""
    answers = {(x["case_id"], int(x["repeat"])): x["response"]
               for x in data.get("exchanges") or () if x.get("response") is not None}
    per: dict[str, dict[int, dict[str, Any]]] = {}
    for rec in data["results"]:
        if rec["check"] == "case_file" or rec["outcome"] == "skipped":
            continue
        sample = per.setdefault(rec["case_id"], {}).setdefault(
            int(rec.get("repeat") or 1),
            {"repeat": int(rec.get("repeat") or 1), "passed": True, "answer": None,
             "prompt": rec.get("prompt"), "failures": []},
        )
        whole = answers.get((rec["case_id"], sample["repeat"]))
        if whole is not None:
            sample["answer"] = whole
        elif rec.get("response_excerpt") is not None and sample["answer"] is None:
            sample["answer"] = rec["response_excerpt"]
        if rec["outcome"] != "passed":
            sample["passed"] = False
            sample["failures"].append(f"{rec['check']}: {rec.get('message') or rec['outcome']}")
    return {c: sorted(s.values(), key=lambda x: (x["passed"], x["repeat"]))
            for c, s in per.items()}


def _answers(title: str, side: str, samples: list[dict[str, Any]], e: Callable[[Any], str],
             redact: Callable[[str], str]) -> str:
    out = [f"<div class='{side}'><h4>{title} ({len(samples)} sample(s))</h4><ul class='answers'>"]
    for s in samples[:ANSWERS_SHOWN]:
        mark = "pass" if s["passed"] else "fail"
        why = "".join(f"<br><small>{e(f[:300])}</small>" for f in s["failures"][:3])
        # redacted whole before the cut, so a cut never splits a value and leaks half of it
        answer = "(no answer)" if s["answer"] is None else redact(s["answer"])
        if len(answer) > ANSWER_CHARS:
            answer = answer[:ANSWER_CHARS] + f" … ({len(answer) - ANSWER_CHARS} more characters)"
        out.append(f"<li class='{mark}'><strong>#{s['repeat']} {mark}</strong>{why}"
                   f"<pre>{html.escape(answer, quote=True)}</pre></li>")
    if len(samples) > ANSWERS_SHOWN:
        out.append(f"<li>… {len(samples) - ANSWERS_SHOWN} more sample(s)</li>")
    out.append("</ul></div>")
    return "".join(out)
