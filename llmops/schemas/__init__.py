"""JSON Schemas of every llmops file format: the single source of truth for their shape."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import marshal
import os
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema `schemas/<name>.schema.json` (e.g. "case", "results", "feedback")."""
    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def cache_dir() -> Path:
    """Where llmops keeps what it can rebuild (the compiled case validator): the user's cache
    directory, `$XDG_CACHE_HOME/llmops` or `~/.cache/llmops`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llmops"


def fast_validator(name: str) -> Callable[[Any], Any]:
    """fastjsonschema's compiled validator of schema `name`, whose code is cached on disk.

    Generating and compiling the validator of the case schema costs ~0.2 s, every run, before
    the first case loads; its byte code, cached under `cache_dir()` and keyed by the schema's
    text, fastjsonschema's version and the interpreter's byte-code format, loads in a few ms.
    Whatever goes wrong with the cache (no home, a read-only disk, a file cut short) only costs
    that time again: the validator is then compiled in memory as before."""
    import fastjsonschema

    text = json.dumps({k: v for k, v in load_schema(name).items() if k != "$schema"},
                      sort_keys=True)
    schema = json.loads(text)  # a copy: fastjsonschema adds to the dicts it is given
    key = hashlib.sha256(
        text.encode()
        + fastjsonschema.VERSION.encode()
        + importlib.util.MAGIC_NUMBER
    ).hexdigest()[:24]
    path = cache_dir() / f"{name}-validator-{key}.bin"
    code = None
    with contextlib.suppress(OSError, EOFError, ValueError, TypeError):
        code = marshal.loads(path.read_bytes())
    if code is None:
        source = fastjsonschema.compile_to_code(schema)
        code = compile(source, f"<fastjsonschema {name}>", "exec")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(marshal.dumps(code))
            os.replace(tmp, path)  # whole or not at all, whoever writes at the same time
        except OSError:
            pass
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # our own schema's code, as fastjsonschema.compile would run it
    # the root validator's name, as fastjsonschema.compile finds it
    entry = fastjsonschema.RefResolver.from_schema(schema, handlers={}, store={}).get_scope_name()
    return namespace[entry]  # type: ignore[no-any-return]
