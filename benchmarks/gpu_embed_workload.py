"""What the GPU embedding benchmarks share: the workload and the model folders.

The lent GPU machine has no network and no model weights, so:
- MiniLM travels from this machine as an fp16 sentence-transformers folder (about 45 MB,
  ``python -m benchmarks.gpu_embed_workload export-minilm DEST``), with the vectors the CPU
  path (fp32 original, ragserve's SentenceTransformerEmbedder) gives for a fixed set of texts;
- BERT-base is built on the GPU machine with random weights and MiniLM's tokenizer (the same
  uncased WordPiece vocabulary): speed does not depend on the weights' values.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

from tokenizers import Tokenizer

#: Words of policy-style prose, as in benchmarks/corpus.py (which needs fpdf2 to import).
_WORDS = (
    "the finance team every project lead security office new employees data platform group "
    "regional office procurement board client-facing consultants on-call engineer people "
    "reviews approves documents archives audits reports schedules encrypts reconciles "
    "publishes quarterly budget forecasts vendor contracts above 10,000 euros access rights "
    "to production systems travel requests for conferences incident post-mortems customer "
    "satisfaction surveys backup restore drills laptop replacement training budgets data "
    "retention exceptions every monday morning before end of each quarter within five "
    "working days at least twice a year after major release workshop as soon request is "
    "filed during annual planning week so that nothing approved twice because auditors ask "
    "written trail to keep costs predictable which keeps safe teams can plan ahead as "
    "required by 2026 compliance framework reference number applies"
).split()


def chunk_texts(
    tokenizer_json: Path, n: int, seed: int = 0, lo: int = 150, hi: int = 250
) -> list[str]:
    """``n`` chunk-like texts of ``lo``–``hi`` model tokens (special tokens excluded)."""
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    rng = random.Random(seed)
    drafts = []
    targets = []
    for _ in range(n):
        target = rng.randint(lo, hi)
        words = [rng.choice(_WORDS) for _ in range(target)]  # enough: ≥ 1 token a word
        sentence_ends = range(12, len(words), rng.randint(10, 20))
        for i in sentence_ends:
            words[i] += "."
        drafts.append(" ".join(words))
        targets.append(target)
    texts = []
    for draft, target, enc in zip(
        drafts, targets, tokenizer.encode_batch(drafts, add_special_tokens=False), strict=True
    ):
        texts.append(draft[: enc.offsets[min(target, len(enc.offsets)) - 1][1]])
    return texts


def export_minilm(dest: Path, n_reference: int = 2048) -> None:
    """Write MiniLM as fp16 safetensors plus the CPU path's vectors for a fixed text set."""
    import numpy as np
    import torch

    from ragserve.embed import packaged
    from ragserve.embed.sentence_transformers import SentenceTransformerEmbedder

    src = packaged.minilm_folder()
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(
        src,
        dest,
        ignore=shutil.ignore_patterns(
            "*.bin", "*.safetensors", "onnx", "openvino", "*.onnx", "*.h5"
        ),
    )
    from safetensors.torch import load_file, save_file

    weights = load_file(str(src / "model.safetensors"))
    save_file(
        {k: v.to(torch.float16).contiguous() for k, v in weights.items()},
        str(dest / "model.safetensors"),
        metadata={"format": "pt"},
    )
    texts = chunk_texts(src / "tokenizer.json", n_reference, seed=1)
    cpu = SentenceTransformerEmbedder(str(src), model_id="all-MiniLM-L6-v2")
    np.save(dest.parent / "minilm_cpu_reference.npy", cpu.embed_passages(texts))
    (dest.parent / "minilm_reference_texts.json").write_text(json.dumps(texts))


#: BERT shapes by name: (layers, width, heads); the feed-forward is 4× the width.
BERT_SHAPES = {"base": (12, 768, 12), "large": (24, 1024, 16)}


def random_bert(minilm: Path, dest: Path, size: str = "base") -> Path:
    """A sentence-transformers folder: BERT-base (or -large) shape, random weights, MiniLM's
    tokenizer."""
    from transformers import BertConfig, BertModel

    layers, width, heads = BERT_SHAPES[size]

    if (dest / "model.safetensors").exists():
        return dest
    shutil.copytree(
        minilm,
        dest,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("*.safetensors"),
    )
    # Its config.json replaces MiniLM's: base 110 M parameters, large 335 M.
    shape = BertConfig(
        num_hidden_layers=layers,
        hidden_size=width,
        num_attention_heads=heads,
        intermediate_size=4 * width,
    )
    BertModel(shape).save_pretrained(dest)
    pooling = dest / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config["word_embedding_dimension"] = width
    pooling.write_text(json.dumps(config))
    return dest


def random_minilm(skeleton: Path, dest: Path) -> Path:
    """MiniLM's shape and tokenizer with random weights, for throughput when the real fp16
    weights did not travel (a fresh GPU machine for a second call)."""
    from transformers import BertConfig, BertModel

    if not (dest / "model.safetensors").exists():
        shutil.copytree(skeleton, dest, dirs_exist_ok=True)
        BertModel(BertConfig.from_pretrained(skeleton)).save_pretrained(dest)
    return dest


if __name__ == "__main__":
    if sys.argv[1:2] == ["export-minilm"]:
        export_minilm(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["random-minilm"]:
        print(random_minilm(Path(sys.argv[2]), Path(sys.argv[3])))
    elif sys.argv[1:2] == ["random-bert"]:  # random-bert MINILM_DIR DEST base|large
        print(random_bert(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]))
    else:
        raise SystemExit("usage: python -m benchmarks.gpu_embed_workload export-minilm DEST")
