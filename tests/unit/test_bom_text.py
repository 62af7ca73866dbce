"""Text behind a byte-order mark decodes exactly; binary behind one is still binary."""

import codecs
import random
from pathlib import Path

import pytest

from ragserve.errors import CorruptFile
from ragserve.ingest.loaders.text import decode_text, is_binary

KOREAN = "연차 휴가는 매년 십오일이 주어집니다. Vacation: 15 days."
ENCODED = {
    "utf-8": codecs.BOM_UTF8 + KOREAN.encode("utf-8"),
    "utf-16-le": codecs.BOM_UTF16_LE + KOREAN.encode("utf-16-le"),
    "utf-16-be": codecs.BOM_UTF16_BE + KOREAN.encode("utf-16-be"),
    # Its BOM starts with UTF-16 LE's: read as UTF-16 it would be every other character NUL.
    "utf-32-le": codecs.BOM_UTF32_LE + KOREAN.encode("utf-32-le"),
    "utf-32-be": codecs.BOM_UTF32_BE + KOREAN.encode("utf-32-be"),
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_text_with_a_bom_decodes_exactly(encoding: str) -> None:
    data = ENCODED[encoding]
    assert not is_binary(data[:4096])
    assert decode_text(Path("k.txt"), data) == KOREAN


@pytest.mark.parametrize("bom", [codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE])
def test_binary_behind_a_bom_is_still_binary(bom: bytes) -> None:
    data = bom + random.Random(1).randbytes(8192)
    assert is_binary(data[:4096])
    with pytest.raises(CorruptFile, match="binary content"):
        decode_text(Path("noise.txt"), data)
