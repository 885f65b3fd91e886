"""Scrubbing the results document where it lies gives what the copying scrub gives."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from llmops import scrub

SECRET = "sk-test-0123456789abcdef"

texts = st.sampled_from(["", "plain", SECRET, f"key={SECRET}!", f"{SECRET}{SECRET}", "sk-test"])
docs = st.recursive(
    st.none() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4)
    | st.tuples(inner, inner),
    max_leaves=25,
)


@given(docs)
def test_in_place_equals_the_copy(doc: object) -> None:
    scrub.forget()
    scrub.register(SECRET)
    try:
        want = scrub.deep(copy.deepcopy(doc))
        got = scrub.deep_in_place(doc)
        assert got == want
        assert SECRET not in repr(got)
        if isinstance(doc, dict | list):
            assert got is doc  # no second copy of the document
    finally:
        scrub.forget()


def test_nothing_registered_leaves_the_document_alone() -> None:
    scrub.forget()
    doc = {"a": ["b", {"c": "d"}]}
    assert scrub.deep_in_place(doc) is doc and doc == {"a": ["b", {"c": "d"}]}
