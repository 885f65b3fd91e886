"""PII leakage: no answer holds personal data beyond what its case allows (`no_pii`)."""

import pytest


@pytest.mark.llmops_check("no_pii")
def test_no_pii(check):
    check()
