"""Empty responses: every answer holds words (`not_empty`, on unless a case turns it off)."""

import pytest


@pytest.mark.llmops_check("not_empty")
def test_not_empty(check):
    check()
