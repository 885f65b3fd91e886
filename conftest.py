"""Root pytest configuration.

The llmops plugin comes from the package's `pytest11` entry point, so `pytest evals/` works in any
project that installs llmops; nothing here is needed for that. What is here is for this repository's
own tests: hypothesis runs derandomized and without its per-example deadline, because tests assert
behaviour, never time (speed is measured in benchmarks/).
"""

from __future__ import annotations

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a dev extra; evals run without it
    pass
else:
    settings.register_profile(
        "llmops", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("llmops")
