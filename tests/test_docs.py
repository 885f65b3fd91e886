"""The documentation: the MkDocs site builds strictly, every page is in its navigation, and the
README stays a short front door whose links all reach a page."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _mkdocs_config() -> dict:
    # mkdocs.yml holds a `!!python/name:` tag (mermaid fences); read it without resolving tags
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    return yaml.load((REPO / "mkdocs.yml").read_text(), Loader=Loader)


def test_every_page_is_in_the_navigation_and_every_nav_entry_exists() -> None:
    pages = _nav_pages(_mkdocs_config()["nav"])
    on_disk = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("material", reason="mkdocs-material is a dev extra")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "cases-and-checks" / "index.html").is_file()


def test_readme_is_a_short_front_door_whose_links_reach_pages() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (REPO / t).exists()]
    assert missing == []


# -- tables that list every key, option or check: held to the code --------------------------------


def _table(page: str, heading: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table after `heading` in docs/PAGE."""
    lines = (DOCS / page).read_text().splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2, f"docs/{page}: no table under {heading!r}"
    return rows[2:]  # past the header and the |---| line


def _codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_every_check_key_is_documented_with_its_family() -> None:
    from llmops.checks import CHECKS

    documented: dict[str, str] = {}
    for row in _table("cases-and-checks.md", "## Expectation keys"):
        for key in _codes(row[0]):
            documented[key] = row[-1]
    expected = {key: check.family for key, check in CHECKS.items()}
    assert documented == expected, (
        "docs/cases-and-checks.md's table of expectation keys differs from llmops.checks.CHECKS: "
        f"add or fix rows for {sorted(set(expected.items()) ^ set(documented.items()))}"
    )


def _default_text(value: object) -> str:
    if isinstance(value, bool):  # as TOML writes it
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value) if isinstance(value, list) else str(value)


def test_every_config_key_is_documented_with_its_default() -> None:
    from llmops.config import DEFAULTS

    rows = {_codes(r[0])[0]: r for r in _table("configuration.md", "## `[tool.llmops]`")}
    assert set(rows) == set(DEFAULTS), f"document {sorted(set(DEFAULTS) ^ set(rows))}"
    for key, value in DEFAULTS.items():
        if value is not None:
            assert rows[key][1].strip("`") == _default_text(value), key


def test_every_config_table_is_documented() -> None:
    from llmops.config import Config

    tables = {f.name for f in dataclasses.fields(Config) if str(f.type).startswith("dict[")}
    tables.add("limits")  # parsed into llmops.limits.Limits, not kept as a dict
    tables.add("generation")  # parsed into llmops.generation.Generation
    documented = {_codes(r[0])[0].removeprefix("[tool.llmops.").rstrip("]")
                  for r in _table("configuration.md", "## Tables under `[tool.llmops]`")}
    assert documented == tables, f"document [tool.llmops.X] for {sorted(tables ^ documented)}"


def test_every_limit_is_documented_with_its_default() -> None:
    from llmops.limits import Limits

    rows = {_codes(r[0])[0]: r for r in _table("hostile-input.md", "## `[tool.llmops.limits]`")}
    expected = {f.name: _default_text(f.default) for f in dataclasses.fields(Limits)}
    assert {k: r[1].strip("`") for k, r in rows.items()} == expected


def test_every_generation_setting_is_documented_with_its_default() -> None:
    from llmops.generation import Generation

    rows = {_codes(r[0])[0]: r for r in
            _table("configuration.md", "## `[tool.llmops.generation]`")}
    defaults = {f.name: f.default for f in dataclasses.fields(Generation)}
    defaults["extra_body"] = {}  # a default_factory
    assert set(rows) == set(defaults), f"document {sorted(set(defaults) ^ set(rows))}"
    for key, value in defaults.items():
        expected = "none" if value is None else _default_text(value)
        assert rows[key][1].strip("`") == expected, key


def test_every_case_generation_key_is_documented_and_sent() -> None:
    """The case reference's table, the case schema and what a case may override agree."""
    from llmops.generation import CASE_KEYS, RESERVED
    from llmops.schemas import load_schema

    schema = load_schema("case")["$defs"]["generation"]
    documented = {_codes(r[0])[0] for r in
                  _table("cases-and-checks.md", "## Generation settings of a case")}
    assert documented == set(schema["properties"]) == set(CASE_KEYS)
    assert set(schema["properties"]["extra_body"]["propertyNames"]["not"]["enum"]) == RESERVED


def test_every_gate_key_is_documented_with_its_default() -> None:
    from llmops.gate import Policy

    rows = {_codes(r[0])[0]: r for r in _table("configuration.md", "## `[tool.llmops.gate]`")}
    fields = {f.name: f.default for f in dataclasses.fields(Policy)}
    assert set(rows) == set(fields), f"document gate keys {sorted(set(fields) ^ set(rows))}"
    for key, value in fields.items():
        if value is not None:
            assert rows[key][1].strip("`") == _default_text(value), key


def test_every_pytest_option_is_documented() -> None:
    from llmops import plugin

    options: list[str] = []

    class Recorder:
        def getgroup(self, *args: object, **kwargs: object) -> Recorder:
            return self

        def addoption(self, *names: str, **kwargs: object) -> None:
            options.extend(n for n in names if n.startswith("--"))

    plugin.pytest_addoption(Recorder())  # type: ignore[arg-type]
    documented = [_codes(r[0])[0] for r in _table("configuration.md",
                                                  "## Options of `pytest evals/`")]
    assert sorted(documented) == sorted(options), (
        f"document {sorted(set(options) ^ set(documented))}")


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    from llmops.pii.backend import PURE_ENV

    read = {PURE_ENV}
    for path in (REPO / "llmops").rglob("*.py"):
        read |= set(re.findall(r"environ(?:\.get\(|\[)\s*\"([A-Z][A-Z0-9_]+)\"",
                               path.read_text(encoding="utf-8")))
    documented = {name for r in _table("configuration.md", "## Environment")
                  for name in _codes(r[0])}
    assert read <= documented, f"document {sorted(read - documented)} in docs/configuration.md"


def test_every_pii_type_is_documented() -> None:
    from llmops.pii.types import ALL_TYPES

    documented = {_codes(r[0])[0] for r in _table("pii.md", "## What is detected")}
    assert documented == set(ALL_TYPES), f"document {sorted(set(ALL_TYPES) ^ documented)}"


def test_every_monitor_setting_is_documented_with_its_default() -> None:
    from llmops.monitoring import otel, wrapper
    from llmops.monitoring.logfiles import DEFAULT_BACKUPS, DEFAULT_MAX_BYTES
    from llmops.monitoring.summary import SETTING_DEFAULTS

    # the table's defaults are the ones the code uses
    assert SETTING_DEFAULTS["slow_ms"] == wrapper.DEFAULT_SLOW_MS
    assert SETTING_DEFAULTS["log_text_chars"] == wrapper.DEFAULT_TEXT_CHARS
    assert SETTING_DEFAULTS["log_max_bytes"] == DEFAULT_MAX_BYTES
    assert SETTING_DEFAULTS["log_backups"] == DEFAULT_BACKUPS
    assert SETTING_DEFAULTS["otlp_headers_env"] == otel.DEFAULT_HEADERS_ENV
    assert SETTING_DEFAULTS["otlp_service_name"] == otel.DEFAULT_SERVICE_NAME
    assert SETTING_DEFAULTS["otlp_timeout_s"] == otel.DEFAULT_TIMEOUT_S
    rows = {_codes(r[0])[0]: r
            for r in _table("monitoring.md", "## `[tool.llmops.monitor]` settings")}
    assert set(rows) == set(SETTING_DEFAULTS), (
        f"document {sorted(set(SETTING_DEFAULTS) ^ set(rows))}")
    for key, value in SETTING_DEFAULTS.items():
        if value is not None:
            assert rows[key][1].strip("`") == _default_text(value), key


def test_the_equivalent_mutants_table_is_the_mutation_config() -> None:
    """docs/testing.md lists the equivalent mutants that mutation/config.toml skips, each with
    its reason: one row per entry, no more, no fewer."""
    import tomllib

    config = tomllib.loads((REPO / "mutation" / "config.toml").read_text(encoding="utf-8"))
    want = []
    for eq in config["equivalent"]:
        mutant = f"`{eq['line']}` → `{eq['mutant']}`" if eq["mutant"] else f"`{eq['line']}` removed"
        want.append(f"| {eq['module']} | {mutant} | {eq['why']} |")
    section = (DOCS / "testing.md").read_text(encoding="utf-8").split("### Equivalent mutants")[1]
    section = section.split("\n## ")[0].split("\n### ")[0]
    rows = [line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| module |")]
    assert sorted(rows) == sorted(want)
    assert set(config["modules"]) >= {eq["module"] for eq in config["equivalent"]}
