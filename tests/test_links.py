"""Every `docs/*.md` page that code, cases or docs point a reader to exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\bdocs/[A-Za-z0-9_./-]+\.md\b")


def test_every_docs_page_referenced_exists() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    missing = {}
    for name in files:
        if not name.endswith((".py", ".md", ".yaml", ".yml", ".toml", ".txt")) or \
                name == "tests/test_links.py":
            continue
        text = (REPO / name).read_text(encoding="utf-8", errors="replace")
        for link in LINK.findall(text):
            if not (REPO / link).is_file():
                missing.setdefault(link, []).append(name)
    assert not missing, missing
