"""Monitoring: every chatbot exchange logged (redacted) to `logs/monitoring.jsonl` and
`logs/monitoring.log`, simulated traffic, and summaries with alerts.

    from llmops.monitoring import monitored

    @monitored(version="v1")
    def chatbot(prompt: str) -> str: ...

The summariser (`llmops.monitoring.summary`) and the traffic simulator
(`llmops.monitoring.simulate`) import pandas and the targets; import them where needed.
"""

from __future__ import annotations

from llmops.monitoring.events import build_event, classify_exception
from llmops.monitoring.logfiles import EventLog, RotatingFile
from llmops.monitoring.wrapper import (
    Monitor,
    MonitoredTarget,
    conversation,
    default_monitor,
    monitored,
)

__all__ = [
    "EventLog",
    "Monitor",
    "MonitoredTarget",
    "RotatingFile",
    "build_event",
    "classify_exception",
    "conversation",
    "default_monitor",
    "monitored",
]
