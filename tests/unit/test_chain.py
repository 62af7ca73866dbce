"""The chat chain's composition: reloads keep what did not change."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from ragserve.config import BackendSpec, Settings
from ragserve.errors import ConfigError
from ragserve.llm.chain import ChatChain

A = BackendSpec(name="a", base_url="http://127.0.0.1:9/v1", model="m")
B = BackendSpec(name="b", base_url="http://127.0.0.1:10/v1", model="m")
B_MOVED = BackendSpec(name="b", base_url="http://127.0.0.1:11/v1", model="m", api_key="new")


def test_reload_keeps_clients_and_breakers_of_unchanged_members() -> None:
    with ExitStack() as stack:
        chain = ChatChain(Settings(), stack)
        chain.reload([A, B])
        first_a, first_b = chain.members
        first_a.breaker.failure("down")
        chain.reload([A, B_MOVED])
        a, b = chain.members
        assert a.breaker is first_a.breaker and a.breaker.total_failures == 1
        assert a.backend is first_a.backend
        assert b.breaker is not first_b.breaker and b.backend.base_url.endswith(":11/v1")
        target = chain.passthrough_target()
        assert (target.base_url, target.api_key) == ("http://127.0.0.1:9/v1", None)
        chain.reload([B_MOVED, A])
        target = chain.passthrough_target()
        assert (target.base_url, target.api_key) == ("http://127.0.0.1:11/v1", "new")


def test_a_member_that_cannot_be_built_changes_nothing() -> None:
    with ExitStack() as stack:
        chain = ChatChain(Settings(), stack)
        chain.reload([A])
        with pytest.raises(ConfigError, match="needs a base_url"):
            chain.reload([A, BackendSpec(name="x", kind="openai")])
        assert [m.name for m in chain.members] == ["a"]
