"""`[tool.llmops.redteam]`: what the red-team detectors compare answers with.

```toml
[tool.llmops.redteam]
system_prompt_file = "prompts/system.txt"   # no_system_prompt_leak compares answers with it
allowed_hosts = ["examplebank.com"]         # safe_output: links and images may point here
leak_threshold = 0.3                        # share of the prompt's word 4-grams that is a leak
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.errors import InputError
from llmops.redteam.detectors import LEAK_THRESHOLD

if TYPE_CHECKING:
    from llmops.config import Config

SOURCE = "pyproject.toml: [tool.llmops.redteam]"
KEYS = ("system_prompt_file", "allowed_hosts", "leak_threshold")
#: A system prompt is instructions, not a corpus: past this it is surely the wrong file.
MAX_PROMPT_BYTES = 1_000_000


@dataclass(frozen=True)
class RedteamSettings:
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    leak_threshold: float = LEAK_THRESHOLD


def from_config(cfg: Config) -> RedteamSettings:
    """The table read and checked; the system prompt file read now, so a wrong path stops the
    run at its start (exit 2) instead of failing every probe."""
    table: dict[str, Any] = cfg.redteam
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise InputError(f"{SOURCE}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    hosts = table.get("allowed_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h.strip() for h in hosts):
        raise InputError(f"{SOURCE}: allowed_hosts must be a list of host names")
    threshold = table.get("leak_threshold", LEAK_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not (
        0 < threshold <= 1
    ):
        raise InputError(f"{SOURCE}: leak_threshold must be a number in (0, 1], not {threshold!r}")
    prompt = name = None
    if table.get("system_prompt_file") is not None:
        name = table["system_prompt_file"]
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"{SOURCE}: system_prompt_file must be a path")
        path = cfg.resolve(name)
        try:
            if path.stat().st_size > MAX_PROMPT_BYTES:
                raise InputError(f"{path}: system_prompt_file is over {MAX_PROMPT_BYTES} bytes")
            prompt = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{SOURCE}: system_prompt_file {name!r}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: cannot read the system prompt: {exc}") from exc
        if not prompt.strip():
            raise InputError(f"{path}: the system prompt file is empty")
    return RedteamSettings(
        system_prompt=prompt,
        system_prompt_file=name,
        allowed_hosts=tuple(h.strip() for h in hosts),
        leak_threshold=float(threshold),
    )
