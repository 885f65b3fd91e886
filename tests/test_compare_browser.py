"""`llmops compare --html` in a real browser: Debian's headless Chromium driven by Playwright.

The page must load with no console error (its Content-Security-Policy turns any injected script
into one), show every changed case with both runs' answers side by side, and hold no raw PII or
live markup from the answers. `make test` installs Debian's `chromium` package when it is missing
(`make browser`); Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmops import compare, gate, results
from llmops.pii import get_detector

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
HOSTILE = "<script>console.error('pwned')</script><img src=x onerror=alert(1)> done"


def _record(case_id: str, check: str, outcome: str, repeat: int, answer: str) -> dict[str, Any]:
    return {
        "case_id": case_id, "file": "cases/bank.yaml", "line": 3, "suite": "bank", "tags": [],
        "severity": "major", "check": check, "prompt": f"question {case_id}", "repeat": repeat,
        "outcome": outcome, "message": "" if outcome == "passed" else "expected any of [heads]",
        "latency_ms": 100.0 + repeat, "error_type": None, "response_excerpt": answer,
        "findings": [],
    }


def _run(tmp: Path, name: str, outcomes: dict[str, list[tuple[str, str]]],
         whole: dict[tuple[str, int], str] | None = None) -> gate.Results:
    records = [
        _record(case_id, check, outcome, i, answer)
        for case_id, samples in outcomes.items()
        for i, (outcome, answer) in enumerate(samples, 1)
        for check in ("contains",)
    ]
    doc = results.document(records, started_at=results.now_iso(), target="http://bot/v1",
                           chatbot_version=name, cases_digest="0" * 64, root=tmp, repeat=10,
                           thresholds={}, statistical=True)
    if whole:  # the whole redacted answers of some samples, as results.json keeps them
        doc["exchanges"] = [
            {"case_id": c, "repeat": r, "messages": [{"role": "user", "content": "q"}],
             "response": text, "latency_ms": 100.0, "error_type": None}
            for (c, r), text in whole.items()
        ]
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(doc))
    return gate.read_results(path)


def test_compare_page_loads_clean_and_shows_the_changed_cases(tmp_path: Path) -> None:
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} is missing: install Debian's chromium package (`make browser`, or "
        "`apt-get install -y chromium` as root) to run the browser test"
    )
    from playwright.sync_api import sync_playwright

    ok = [("passed", "heads, as always")] * 10
    base = _run(tmp_path, "base", {
        "steady": ok, "drops": ok, "leaks": ok,
        "fixed": [("failed", "tails")] * 10,
    })
    # a long answer whose e-mail address straddles where the page cuts it
    long = "x" * (compare.ANSWER_CHARS - 17) + " mail jane.roe@gmail.com " + "y" * 100
    new = _run(tmp_path, "new", {
        "steady": ok,
        "drops": [("passed", "heads")] * 3 + [("failed", HOSTILE)] * 7,
        "leaks": [("failed", "write to jane.doe@gmail.com for heads")] * 10,
        "fixed": [("passed", "heads now")] * 10,
    }, whole={("fixed", 1): long})
    c = compare.compare(base, new)
    redact = get_detector().redact
    page_path = tmp_path / "compare.html"
    page_path.write_text(compare.to_html(c, base, new, redact))
    assert {x["case_id"] for x in c["changed_cases"]} == {"drops", "leaks", "fixed"}

    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
            page.on("dialog", lambda d: (console.append(f"dialog: {d.message}"), d.dismiss()))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            assert console == []
            sections = page.locator("section.case")
            shown = [sections.nth(i).get_attribute("data-case-id")
                     for i in range(sections.count())]
            assert shown == ["drops", "fixed", "leaks"]
            assert page.locator("#case-steady").count() == 0
            assert page.locator("#regression-count").inner_text() == "2"
            drops = page.locator("#case-drops")
            assert "passed → failed" in drops.locator("h3").inner_text()
            # both runs side by side, the failing samples first, the markup shown as text
            base_side = drops.locator(".sides .base pre").first.inner_text()
            new_side = drops.locator(".sides .new pre").first.inner_text()
            assert base_side == "heads, as always" and new_side == HOSTILE
            assert page.locator("img").count() == 0  # the injected tag is text, not an element
            leaks = page.locator("#case-leaks .sides .new pre").first.inner_text()
            assert "jane.doe" not in leaks and "<EMAIL_ADDRESS>" in leaks
            assert page.locator("#newly-failing a").all_inner_texts() == ["drops", "leaks"]
            assert page.locator("#newly-passing a").all_inner_texts() == ["fixed"]
            fixed = page.locator("#case-fixed .sides .new pre").first.inner_text()
            assert fixed.startswith("x" * 100) and "more characters)" in fixed
            assert "jane.roe" not in fixed and "jane.roe" not in page.content()
            # a link to a changed case lands on it
            page.locator("#newly-passing a").first.click()
            assert page.url.endswith("#case-fixed")
        finally:
            browser.close()
    assert console == []
