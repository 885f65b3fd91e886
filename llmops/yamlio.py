"""Reading a YAML (or JSON) file whose problems a user must be able to find: `file:line: why`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmops.errors import InputError


def read_yaml(path: Path) -> Any:
    """The document in `path`; InputError naming the file (and line) when it cannot be had."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
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
