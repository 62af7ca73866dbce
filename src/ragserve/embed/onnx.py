"""In-process embeddings with ONNX Runtime: the packaged int8 all-MiniLM-L6-v2 by default."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from ragserve.embed.base import HFTokenizer, PrefixedEmbedder, Vectors, normalize
from ragserve.embed.batch_planning import embed_batched


class OnnxEmbedder(PrefixedEmbedder):
    """A BERT-style ONNX encoder with mean pooling and L2 normalisation."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        model_id: str,
        max_tokens: int = 256,
        threads: int | None = None,
        batch_tokens: int = 8192,
        max_batch: int = 128,
        query_prefix: str = "",
        passage_prefix: str = "",
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(model_path), options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        raw = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer = HFTokenizer(Tokenizer.from_str(raw.to_str()))
        raw.no_padding()
        raw.enable_truncation(max_tokens)
        self._encoder = raw
        self.model_id = model_id
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self._dimension = int(self._session.get_outputs()[0].shape[-1])

    @property
    def dimension(self) -> int:
        return self._dimension

    def _embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        encodings = self._encoder.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]

        def run(batch: list[int]) -> Vectors:
            width = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled: Vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            return pooled

        return normalize(embed_batched(lengths, self.batch_tokens, self.max_batch, run))
