"""The case validator's code is cached on disk (start-up), and a bad cache costs only time."""

from __future__ import annotations

from pathlib import Path

import fastjsonschema
import pytest

from llmops.schemas import cache_dir, fast_validator

VALID = {"cases": [{"id": "a", "prompt": "How do I freeze my card?"}]}
INVALID = {"cases": [{"id": "a", "promt": "typo"}]}


def _verdict(validate, doc) -> bool:
    try:
        validate(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_cached_validator_is_written_once_then_loaded_not_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "llmops"
    first = fast_validator("case")
    cached = list((tmp_path / "llmops").glob("case-validator-*.bin"))
    assert len(cached) == 1 and cached[0].stat().st_size > 1000
    assert not list((tmp_path / "llmops").glob("*.tmp"))

    def no_codegen(*args: object, **kw: object) -> str:
        raise AssertionError("generated again despite the cache")

    monkeypatch.setattr(fastjsonschema, "compile_to_code", no_codegen)
    again = fast_validator("case")
    for validate in (first, again):
        assert _verdict(validate, VALID) and not _verdict(validate, INVALID)


def test_the_cached_validator_judges_as_fastjsonschema_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.schemas import load_schema

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fast_validator("case")
    cached = fast_validator("case")
    schema = {k: v for k, v in load_schema("case").items() if k != "$schema"}
    reference = fastjsonschema.compile(schema)
    docs = [VALID, INVALID, {"cases": []}, {"cases": [{"id": "a", "conversation": []}]},
            {"suite": "s", "cases": [{"id": "b", "prompt": "p", "severity": "fatal"}]},
            {"cases": [{"id": "c", "prompt": "p", "expect": {"contains_any": ["x"]}}]}]
    for doc in docs:
        assert _verdict(cached, doc) == _verdict(reference, doc), doc


@pytest.mark.parametrize("damage", [b"", b"not marshal data", b"\xe3" * 10])
def test_a_damaged_cache_file_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fast_validator("case")
    (path,) = (tmp_path / "llmops").glob("case-validator-*.bin")
    path.write_bytes(damage)
    validate = fast_validator("case")
    assert _verdict(validate, VALID) and not _verdict(validate, INVALID)
    assert path.stat().st_size > 1000  # written again, whole


def test_an_unwritable_cache_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    validate = fast_validator("case")
    assert _verdict(validate, VALID) and not _verdict(validate, INVALID)
