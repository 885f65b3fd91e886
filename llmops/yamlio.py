"""Reading a YAML (or JSON) file whose problems a user must be able to find: `file:line: why`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmops.errors import InputError

try:  # the C parser: the alias scan below costs little
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

ALIASES_REFUSED = (
    "YAML aliases (*name) are not allowed: a few bytes of them can expand to gigabytes; "
    "write the value out"
)


def first_alias(text: str) -> int | None:
    """The line of the first alias (`*name`) in a YAML text, None if it has none. Only a text
    with both an anchor and a star can have one, so most files never pay for the event scan."""
    if "&" not in text or "*" not in text:
        return None
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                return event.start_mark.line + 1
    except yaml.YAMLError:
        return None  # the loader reports it, with its line
    return None


def read_yaml(path: Path) -> Any:
    """The document in `path`; InputError naming the file (and line) when it cannot be had.
    Aliases are refused (a billion-laughs file), and so is nesting too deep to read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        alias = first_alias(text)
        if alias is not None:
            raise InputError(f"{path}:{alias}: {ALIASES_REFUSED}")
        return yaml.safe_load(text)
    except RecursionError as exc:
        raise InputError(f"{path}: invalid YAML: nested too deeply") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InputError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
