"""The normaliser by itself: each edit it makes (and the near misses it must leave alone), and the
map from every character it returns back to the original span, which redaction relies on. The
detector over disguised values is held to them in tests/test_pii_evasion.py."""

from __future__ import annotations

import pytest

from llmops.pii.normalize import Normal, char_map, normalize


def text(original: str) -> str | None:
    got = normalize(original)
    return None if got is None else got.text


def spans(got: Normal | None) -> list[tuple[int, int]]:
    assert got is not None
    return list(zip(got.starts, got.ends, strict=True))


@pytest.mark.parametrize("original", [
    "plain text 4111 1111", "café", "x86_64", "a_b", " _ ", "@ x", "x @ ", "look at example.com",
    "jane at example.com", "12345\n555 0199", "12\n3456", "1234\n1", "1234\n1234567",
    "&#0;", "&#31;", "&#xD800;", "&#1114112;", "&bogus;", "four one one one one",
    "one one one one one one", "jane at example dot c0m", "jane at example dot c",
    " at example dot com", "jane    @example.com", "1234     \n5678", "",
])
def test_text_it_would_not_change_is_none(original: str) -> None:
    assert normalize(original) is None


@pytest.mark.parametrize(("original", "want"), [
    # one character at a time: NFKC, digits of any script, dashes, full stops, format characters
    ("４１１１", "4111"), ("\U0001d7ce\U0001d7cf", "01"), ("\u0661\u0662", "12"),
    ("1\u20132", "1-2"), ("1\u22122", "1-2"), ("1\u20112", "1-2"), ("a\u3002b", "a.b"),
    ("a\u200bb", "ab"), ("a\u00adb", "ab"), ("x\u00a0y", "x y"), ("x\u3000y", "x y"),
    ("a\u2028b", "a b"), ("\ufe6b", "@"),
    # markup
    ("<b>4111</b> 1111", "4111 1111"), ("x<br/>y", "xy"), ("<a href='x'>4</a>", "4"),
    ("4111 **1111**", "4111 1111"), ("a*b", "ab"), ("__bold__", "bold"), ("~~x~~", "x"),
    ("`code`", "code"),
    # an underscore: a separator between digits, emphasis beside one, kept inside identifiers
    ("4111_1111_1111_1111", "4111-1111-1111-1111"), ("_4111_", "4111"), ("1_ ", "1 "),
    ("x _1", "x 1"), ("x1_2", None), ("40_ x", "40 x"), ("0_ ", "0 "), ("1_2a", None),
    ("j @ example.com", "j@example.com"),
    # tabs, character references, %40
    ("a\tb", "a b"), ("&#64;&#x40;&commat;&nbsp;&bogus;", "@@@ &bogus;"), ("&#x41;", "A"),
    ("&#8211;", "-"), ("&AMP;", "&"), ("&#32;", " "), ("jane%40example.com", "jane@example.com"),
    # spaces around @, at most three before it
    ("jane @ example.com", "jane@example.com"), ("jane @example.com", "jane@example.com"),
    ("jane@ example.com", "jane@example.com"), ("jane   @example.com", "jane@example.com"),
    # spelled-out e-mail addresses
    ("jane at example dot com", "jane@example.com"),
    ("jane [at] example [dot] com", "jane@example.com"),
    ("jane (at) example.com", "jane@example.com"),
    ("jane at example dot " + "a" * 24, "jane@example." + "a" * 24),
    ("jane at example dot " + "a" * 25, None),
    # six or more digit words in a row
    ("four one one one one one", "411111"), ("four-one, one one one one", "411111"),
    ("four one one one one one one", "4111111"),
    # one group of digits per line
    ("4111\n1111\n1111\n1111", "4111 1111 1111 1111"), ("1234\r\n5678", "1234 5678"),
    ("1234  \n5678", "1234 5678"), ("1234    \n5678", "1234 5678"), ("123\n45", "123 45"),
    ("1234\n56\n7890", "1234 56 7890"), ("12\n3456\n78", "12\n3456 78"),
    ("ab\r\n1234\n5678", "ab\r\n1234 5678"), ("1234\t\n5678", "1234 5678"),
    # once the markup is gone
    ("4111 <b>1111</b>\n2222 3333", "4111 1111 2222 3333"),
    ("4111\n<i>1111</i>\n2222", "4111 1111 2222"), ("<b>12</b>\n3456", "12\n3456"),
    # both passes
    ("café 4111\t1111", "café 4111 1111"), ("４\t１", "4 1"), ("１2\u200b3 <i>4</i>", "123 4"),
])
def test_each_edit(original: str, want: str | None) -> None:
    assert text(original) == want


def test_every_character_maps_back_to_what_it_stands_for() -> None:
    # kept characters map to themselves; a dropped one is in the span of the next character
    assert spans(normalize("a\u200bb")) == [(0, 1), (2, 3)]
    assert spans(normalize("<b>41</b> 1")) == [(3, 4), (4, 5), (9, 10), (10, 11)]
    # a replacement stands for all it replaced
    got = normalize("jane at example dot com")
    assert got is not None and got.text == "jane@example.com"
    assert got.span(4, 5) == (4, 8) and got.span(12, 13) == (15, 20)
    assert got.span(0, len(got.text)) == (0, 23)
    assert spans(normalize("four one one one one one")) == [
        (0, 5), (5, 9), (9, 13), (13, 17), (17, 21), (21, 24)]
    assert spans(normalize("&#64;x")) == [(0, 5), (5, 6)]
    # the two passes compose: each character of the result maps to the original
    assert spans(normalize("１2\u200b3 <i>4</i>")) == [(0, 1), (1, 2), (3, 4), (4, 5), (8, 9)]
    assert spans(normalize("４\t１")) == [(0, 1), (1, 2), (2, 3)]
    assert spans(normalize("x\u200b\t1")) == [(0, 1), (2, 3), (3, 4)]
    # markup, then a line break: the space stands for the break, and a finding over the
    # number covers the dropped tag inside it
    got = normalize("１23 <b>4567</b>\n8901")
    assert got is not None and got.text == "123 4567 8901"
    assert got.span(8, 9) == (15, 16) and got.span(4, 13) == (7, 20)
    assert got.span(0, len(got.text)) == (0, 20)


def test_char_map() -> None:
    assert char_map("\u200b") == "" and char_map("\ufeff") == ""
    assert char_map("\u2014") == "-" and char_map("\uff0d") == "-"
    assert char_map("\uff61") == "." and char_map("\u0967") == "1"
    assert char_map("é") == "é" and char_map("ﬁ") == "fi"  # NFKC, even to two characters
    assert char_map("\u2028") == " " and char_map("\u0085") == " "
    assert char_map("\u00a0") == " " and char_map("Ａ") == "A"
    assert char_map("\u2011") == "-"  # NFKC gives U+2010, itself a dash
    assert char_map("\u2024") == "."  # one dot leader: NFKC to "."
    assert char_map("\U0001d7d8") == "0"
