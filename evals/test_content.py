"""Content expectations: what the answer must and must not say, its shape and its length."""

import pytest


@pytest.mark.llmops_check("contains")
def test_contains(check):
    check()


@pytest.mark.llmops_check("contains_any")
def test_contains_any(check):
    check()


@pytest.mark.llmops_check("contains_all")
def test_contains_all(check):
    check()


@pytest.mark.llmops_check("not_contains")
def test_not_contains(check):
    check()


@pytest.mark.llmops_check("regex")
def test_regex(check):
    check()


@pytest.mark.llmops_check("not_regex")
def test_not_regex(check):
    check()


@pytest.mark.llmops_check("equals")
def test_equals(check):
    check()


@pytest.mark.llmops_check("starts_with")
def test_starts_with(check):
    check()


@pytest.mark.llmops_check("min_chars")
def test_min_chars(check):
    check()


@pytest.mark.llmops_check("max_chars")
def test_max_chars(check):
    check()


@pytest.mark.llmops_check("json_schema")
def test_json_schema(check):
    check()
