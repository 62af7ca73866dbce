import pytest

from ragserve.errors import BackendProtocolError
from ragserve.sse import DONE, parse_sse_line


def test_parses_data_done_and_ignores_comments() -> None:
    assert parse_sse_line('data: {"a": 1}', "u") == {"a": 1}
    assert parse_sse_line("data: [DONE]", "u") is DONE
    assert parse_sse_line(": keep-alive", "u") is None
    assert parse_sse_line("", "u") is None
    assert parse_sse_line("event: ping", "u") is None


def test_malformed_data_is_a_protocol_error() -> None:
    with pytest.raises(BackendProtocolError, match="malformed SSE"):
        parse_sse_line("data: {not json", "http://x/v1/chat/completions")
