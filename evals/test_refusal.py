"""Refusal: the bot declines what it must (`refuses: true`) and answers what it should
(`refuses: false`)."""

import pytest


@pytest.mark.llmops_check("refuses")
def test_refuses(check):
    check()
