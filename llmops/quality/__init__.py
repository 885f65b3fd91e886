"""Answer quality beyond strings: figures grounded in a reference (`grounding`), semantic
similarity to a reference answer (`embeddings`, `similarity`), an LLM judge of a rubric
(`judge`), and the agreement of a judge with human labels (`calibrate`).

Each is the core of one expectation key registered in `llmops.checks`; nothing here imports
pytest or the CLI.
"""
