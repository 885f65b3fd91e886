# `make evals` and `make test` set up .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev

.PHONY: setup evals test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

# Run the evals against the configured target (default: the built-in reference chatbot).
evals: setup
	$(BIN)/pytest evals/

# The project's own test suite, then lint.
test: setup
	$(BIN)/pytest tests/ -q
	$(BIN)/ruff check llmops evals tests benchmarks conftest.py

lint: setup
	$(BIN)/ruff check llmops evals tests benchmarks conftest.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json
