#!/usr/bin/env bash
# End-to-end ingestion of 5,000 PDF pages on the lent GPU machine (benchmarks/gpu_embed_ingest.py),
# and the per-core tokenising rates (benchmarks/tokenize_words.py). Carries what
# device_gpu_embed.sh does (make it with benchmarks/device_carry.sh). With PROFILE=gil the
# benchmarks run under py-spy (.gpu2/py_spy-*.whl) sampling only while a thread holds the GIL:
# which stage of the main process the GIL is spent on (`python -m benchmarks.pyspy_summary
# $OUT/pyspy_ingest_gil.txt` sums it by stage; NO_BEFORE=1 VARIANTS=children profiles the
# default pipeline alone); PROFILE=wall
# samples every thread all the time, idle included: what each stage's thread waits on.
# MODEL=bert-base|bert-large ingests with that BERT shape (random weights, MiniLM's tokenizer)
# instead of MiniLM: a model heavy enough for the GPU to be the limit.
# Run: [MODEL=bert-large] [REPEAT=2] [VARIANTS=children,switch] [NO_BEFORE=1] [PARALLEL=14] [PROFILE=gil|wall] [SKIP_TOKENIZE=1] [SKIP_NOMODEL=1] bash benchmarks/device_gpu_ingest.sh
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src:. PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
[ -d /tmp/minilm-random ] || python3 -m benchmarks.gpu_embed_workload random-minilm .gpu2/minilm-skel /tmp/minilm-random >/dev/null 2>&1
[ -n "$SKIP_TOKENIZE" ] || python3 -m benchmarks.tokenize_words --tokenizer /tmp/minilm-random/tokenizer.json 2>&1 | tee "$OUT/tokenize_words.log"
M=/tmp/minilm-random
if [ -n "$MODEL" ]; then
  M=/tmp/$MODEL-random
  [ -d $M ] || python3 -m benchmarks.gpu_embed_workload random-bert /tmp/minilm-random $M "${MODEL#bert-}" >/dev/null 2>&1
fi
run=(python3 -m benchmarks.gpu_embed_ingest --minilm $M --parallel "${PARALLEL:-14}" --repeat "${REPEAT:-2}" --variants "${VARIANTS:-children,depth2,batcher}" ${NO_BEFORE:+--no-before} --out "$OUT")
if [ -n "$PROFILE" ]; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/spy .gpu2/py_spy-*.whl
  mode=(--gil); [ "$PROFILE" = wall ] && mode=(--idle)
  run=(/tmp/spy/bin/py-spy record "${mode[@]}" --threads -r 100 -f raw -o "$OUT/pyspy_ingest_$PROFILE.txt" -- "${run[@]}")
fi
timeout ${INGESTTIME:-300} "${run[@]}" 2>&1 | grep -v "Loading weights" | tee "$OUT/gpu_embed_ingest.log"
# The same pipeline with the model taken out: what parsing, chunking, keyword terms and
# writing can feed a GPU at most on these cores.
[ -n "$SKIP_NOMODEL" ] && exit 0
export RAGSERVE_EMBED_MODEL=/tmp/minilm-random RAGSERVE_EMBED_DEVICE=cuda  # its tokenizer only
run=(python3 -m benchmarks.ingest_without_model --files 100 --pages 50 --parallel "${PARALLEL:-14}")
[ -n "$PROFILE" ] && run=(/tmp/spy/bin/py-spy record "${mode[@]}" --threads -r 100 -f raw -o "$OUT/pyspy_nomodel_$PROFILE.txt" -- "${run[@]}")
timeout ${NOMODELTIME:-200} "${run[@]}" 2>&1 | tee "$OUT/ingest_without_model.log"
