"""The reference chatbot: Example Bank's support assistant, the built-in target of the evals.

`Chatbot(version).reply(messages)` answers in process; `llmops.chatbot.server` serves it as an
OpenAI-compatible HTTP API with latency and fault injection; `llmops.chatbot.retrain` builds a
new version from feedback. Versions are YAML files (see `versions.py`).
"""

from __future__ import annotations

from llmops.chatbot.bot import Chatbot
from llmops.chatbot.versions import VersionSpec, list_versions, load_version

__all__ = ["Chatbot", "VersionSpec", "list_versions", "load_version"]
