"""Latency: every answer comes within its case's budget (`max_latency_ms`, default from config)."""

import pytest


@pytest.mark.llmops_check("max_latency_ms")
def test_latency(check):
    check()
