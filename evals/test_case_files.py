"""Case files: every file under cases/ loads and validates; a broken one fails the run (its
valid neighbours still run), with each problem as `file:line: why`."""

import pytest


def test_case_file(case_file_errors):
    if case_file_errors:
        pytest.fail("\n".join(case_file_errors), pytrace=False)
