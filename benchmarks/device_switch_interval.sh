cd "$(dirname "$0")/.." 2>/dev/null || true
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m benchmarks.gpu_embed_workload random-minilm .gpu2/minilm-skel /tmp/minilm-random >/dev/null 2>&1
for cfg in "6 2 5" "6 2 0.5" "6 2 0.1" "4 3 0.5"; do set -- $cfg
  echo "== servers $1 tokp $2 switch $3 ms"
  BENCH_SWITCH_INTERVAL_MS=$3 PYTHONPATH=benchmarks/switch_interval:/tmp/site:src:. timeout 150 python3 -m benchmarks.gpu_embed_api --minilm /tmp/minilm-random --servers $1 --tokenize-processes $2 --max-batch 2048 --seconds 10 --out "$OUT/s$1-$3" 2>&1 | grep -v "Loading weights" | grep '^{\|^direct' 
done
