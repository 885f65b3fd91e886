"""Answer quality: figures grounded in a reference (`grounded_in`)."""

import pytest


@pytest.mark.llmops_check("grounded_in")
def test_grounded_in(check):
    check()
