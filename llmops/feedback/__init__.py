"""The feedback loop: ratings of chatbot answers (from people, monitoring logs and eval failures)
stored in `feedback/feedback.jsonl`, turned into regression cases and training data.

Modules: `records` (schema, normalisation, ids), `store` (the locked, atomic JSONL store),
`ingest` (import files, eval failures), `collect` (interactive), `convert` (cases, training data),
`keyterms` (what a corrected answer must contain), `stats` (counts).

`from_results` is what the pytest plugin calls at the end of a run: it imports nothing heavy.
"""

from __future__ import annotations

from llmops.feedback.ingest import from_results
from llmops.feedback.store import FeedbackStore

__all__ = ["FeedbackStore", "from_results"]
