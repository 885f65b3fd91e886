"""llmops: a pytest-based evaluation and compliance suite for chatbots."""

__version__ = "0.1.0"
