# One Makefile for people and CI. Every target installs what it needs first.
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
QUESTION  ?= How many vacation days do Northwind employees get?
COLLECTION ?= samples
# llama.cpp must not be built for this CPU only: a native build dies with SIGILL elsewhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE ?= 1

.PHONY: setup run test lint bench clean chromium promtool

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -e ".[dev,tracing]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/ragserve ingest samples --collection $(COLLECTION)
	$(VENV)/bin/ragserve ask "$(QUESTION)" --collection $(COLLECTION)
	@echo "Serving http://$${RAGSERVE_HOST:-127.0.0.1}:$${RAGSERVE_PORT:-8000} (API docs at /docs); Ctrl-C stops."
	$(VENV)/bin/ragserve serve

# The bench report is checked in a real browser; Playwright's own download fails here.
chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# The alert rules are checked and unit-tested with promtool (Debian's prometheus package).
promtool:
	@command -v promtool >/dev/null || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends prometheus; }

test: setup chromium promtool
	$(VENV)/bin/pytest --cov=ragserve --cov-report=term:skip-covered

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts deploy
	$(VENV)/bin/ruff format --check src tests benchmarks scripts deploy
	$(VENV)/bin/mypy

bench: setup
	$(PY) -m benchmarks.embedders
	$(PY) -m benchmarks.ingest
	$(PY) -m benchmarks.vector_search
	$(PY) -m benchmarks.ask
	$(PY) -m benchmarks.embeddings_api
	$(PY) -m benchmarks.chat_overhead
	$(PY) -m benchmarks.sse_streams
	$(PY) -m benchmarks.bench_client
	$(PY) -m benchmarks.tracing_overhead

clean:
	rm -rf $(VENV) .ragserve .pytest_cache .mypy_cache .ruff_cache
