#!/usr/bin/env bash
# /v1/embeddings with several servers sharing the GPU, side by side without and with CUDA MPS
# (benchmarks/RESULTS.md, issue 17 fourth pass). Without MPS the GPU time-slices between the
# servers' contexts; under MPS their kernels share the GPU at once. Carries what
# device_gpu_embed.sh does, plus .gpu2/py_spy-*.whl for PROFILE=1 (py-spy on one server, 8 s
# inside the first MPS run's window, every thread, idle included).
# Run: [PLAIN=6 (empty: skip)] [TOKP_PLAIN=2] [SERVERS=6,4] [TOKP=2,3] [PROFILE=1] bash benchmarks/device_gpu_embed_mps.sh
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src:. PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m benchmarks.gpu_embed_workload random-minilm .gpu2/minilm-skel /tmp/minilm-random >/dev/null 2>&1
api() { timeout 300 python3 -m benchmarks.gpu_embed_api --minilm /tmp/minilm-random --max-batch 2048 --seconds 10 "$@" 2>&1 | grep -v "Loading weights"; }
if [ -n "${PLAIN-6}" ]; then echo "== without MPS"; api --servers ${PLAIN:-6} --tokenize-processes ${TOKP_PLAIN:-2} --out "$OUT/plain" | tee "$OUT/plain.log"; fi
export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
nvidia-cuda-mps-control -d || exit 1
if [ -n "$PROFILE" ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/spy .gpu2/py_spy-*.whl
  # The window opens 8 s after the 64 client processes start (more than 50 spawned).
  ( while [ "$(pgrep -fc spawn_main)" -lt 50 ]; do sleep 0.2; done
    sleep 9; pid=$(pgrep -f "ragserve serve" | head -1)
    /tmp/spy/bin/py-spy record -p "$pid" -d 8 -r 250 --threads --idle --nonblocking -f raw -o "$OUT/pyspy_server.txt" >"$OUT/pyspy.log" 2>&1 ) &
fi
echo "== with MPS"; api --servers ${SERVERS:-6,4} --tokenize-processes ${TOKP:-2,3} --out "$OUT/mps" | tee "$OUT/mps.log"
grep -c "New client" $CUDA_MPS_LOG_DIRECTORY/control.log
echo quit | nvidia-cuda-mps-control
wait
