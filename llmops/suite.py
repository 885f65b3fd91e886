"""The eval tests `pytest evals/` runs: one per expectation key of the check registry, and one
for the case files. They live in the package, and a project's `evals/` only imports them
(`from llmops.suite import *`), so a check added or fixed in a newer llmops reaches every project
without touching its `evals/`. Part of the pytest face (like `llmops.plugin`), not of the core.

A project may judge a key with a test of its own, marked `@pytest.mark.llmops_check(KEY)`; the
plugin then drops the packaged test of that key, so no check runs twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llmops.checks import CHECKS


def _check_test(key: str, description: str) -> Callable[..., None]:
    @pytest.mark.llmops_check(key)
    def test(check: Callable[[], None]) -> None:
        check()

    test.__name__ = test.__qualname__ = f"test_{key}"
    test.__doc__ = f"`{key}`: {description}."
    test.__module__ = __name__
    return test


def test_case_file(case_file_errors: list[str]) -> None:
    """Every case file loads and validates; a broken one fails the run (its valid neighbours
    still run), with each problem as `file:line: why`."""
    if case_file_errors:
        pytest.fail("\n".join(case_file_errors), pytrace=False)


_tests: dict[str, Any] = {"test_case_file": test_case_file}
for _key, _check in CHECKS.items():
    _tests[f"test_{_key}"] = _check_test(_key, _check.description)
globals().update(_tests)

#: What `from llmops.suite import *` brings into a project's evals/: the tests, in registry order.
__all__ = list(_tests)
