"""A parse that runs too long says so: it is a timeout, not a file that is too large."""

from __future__ import annotations

import pytest

from ragserve.errors import ParseTimeout, TooLarge
from ragserve.ingest.guards import ParseLimits
from ragserve.ingest.parsing import ParseWorker
from tests.conftest import SAMPLES


def test_a_parse_past_the_timeout_is_a_timeout_naming_the_setting() -> None:
    pdf = SAMPLES / "northwind-benefits-2026.pdf"
    limits = ParseLimits(max_file_bytes=2**30, max_unpacked_bytes=2**30, max_text_chars=10**8)
    worker = ParseWorker(timeout_s=0.001)  # a child process cannot even start that fast
    with pytest.raises(ParseTimeout, match="RAGSERVE_PARSE_TIMEOUT_S") as raised:
        worker.parse(pdf, pdf.read_bytes(), limits)
    assert not isinstance(raised.value, TooLarge)
    assert raised.value.reason_code == "timeout"
    worker.close()
