"""Red teaming: probes for the OWASP Top 10 for LLM applications (2025), generated offline as
ordinary case files (`generate`), judged by deterministic detectors (`detectors`, registered as
the expectation keys `no_canary`, `no_system_prompt_leak` and `safe_output` in `llmops.checks`),
and summarised per OWASP category and per strategy with Wilson intervals (`report`).
"""
