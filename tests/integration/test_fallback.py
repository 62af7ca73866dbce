"""The fallback chain and circuit breaker against two scripted servers on loopback."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import pytest

from ragserve.breaker import BreakerState, CircuitBreaker
from ragserve.errors import BackendError, BackendUnavailable
from ragserve.llm.chain import ChatChain
from ragserve.llm.openai_compat import ChatTimeouts, OpenAICompatChat
from tests.fakes.fault_server import FaultServer, running_fault_server

ASK = [{"role": "user", "content": "hi"}]
FAST = ChatTimeouts(connect=1.0, first_token=0.5, between_tokens=0.5, total=5.0)


@pytest.fixture
def servers() -> Iterator[tuple[tuple[str, FaultServer], tuple[str, FaultServer]]]:
    with running_fault_server() as primary, running_fault_server() as fallback:
        yield primary, fallback


# Under load on CI's two cores a healthy stream can take longer than FAST allows.
LOADED = ChatTimeouts(connect=2.0, first_token=2.0, between_tokens=2.0, total=20.0)


def _chain(
    primary_url: str,
    primary_model: str,
    fallback_url: str,
    timeouts: ChatTimeouts = FAST,
    **breaker: float,
) -> ChatChain:
    return ChatChain.of(
        [("primary", OpenAICompatChat(primary_url, model=primary_model, timeouts=timeouts)),
         ("fallback", OpenAICompatChat(fallback_url, model="ok", timeouts=timeouts))],
        breakers=[CircuitBreaker(**breaker), CircuitBreaker()],  # type: ignore[arg-type]
    )  # fmt: skip


async def _answer(chat: ChatChain) -> str:
    return "".join([d async for d in chat.stream(ASK, max_tokens=8, temperature=0)])  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["http-503", "http-401", "http-404", "stall-first"])
async def test_failures_before_the_first_token_fail_over(servers, fault: str) -> None:  # type: ignore[no-untyped-def]
    (p_url, primary), (f_url, fallback) = servers
    chat = _chain(p_url, fault, f_url)
    assert await _answer(chat) == "Hello from the fault server."
    assert primary.calls[fault] == 1 and fallback.calls["ok"] == 1
    assert chat.health()[0]["failures"] == 1 and chat.health()[1]["successes"] == 1
    await chat.aclose()


@pytest.mark.anyio
async def test_a_dead_primary_fails_over_fast(servers) -> None:  # type: ignore[no-untyped-def]
    _, (f_url, _) = servers
    chat = _chain("http://127.0.0.1:9/v1", "ok", f_url)
    started = time.monotonic()
    assert await _answer(chat) == "Hello from the fault server."
    assert time.monotonic() - started < 2
    await chat.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "seen"),
    [("stall-mid", ["Hello", " from"]), ("cut", ["Hello", " from"]), ("malformed", ["Hello"])],
)
async def test_failures_after_tokens_are_reported_not_spliced(
    servers, fault: str, seen: list[str]
) -> None:  # type: ignore[no-untyped-def]
    (p_url, _), (f_url, fallback) = servers
    chat = _chain(p_url, fault, f_url)
    received: list[str] = []
    with pytest.raises(BackendError):
        async for delta in chat.stream(ASK, max_tokens=8, temperature=0):  # type: ignore[arg-type]
            received.append(delta)
    assert received == seen  # what the user saw before the error
    assert fallback.calls["ok"] == 0  # another model did not continue the half answer
    await chat.aclose()


@pytest.mark.anyio
async def test_breaker_stops_trying_a_dead_backend_then_retries_it(servers) -> None:  # type: ignore[no-untyped-def]
    (p_url, primary), (f_url, _) = servers
    chat = _chain(p_url, "http-503", f_url, failures=3, cooldown_s=0.5)
    for _ in range(10):
        assert await _answer(chat) == "Hello from the fault server."
    assert primary.calls["http-503"] == 3  # then the circuit opened
    assert chat.health()[0]["state"] == BreakerState.open
    await asyncio.sleep(0.6)  # half-open: one trial request goes through
    await _answer(chat)
    assert primary.calls["http-503"] == 4
    assert chat.health()[0]["state"] == BreakerState.open  # trial failed: open again
    await chat.aclose()


@pytest.mark.anyio
async def test_every_backend_failing_is_one_clear_error(servers) -> None:  # type: ignore[no-untyped-def]
    (p_url, _), (f_url, _) = servers
    chat = ChatChain.of([
        ("a", OpenAICompatChat(p_url, model="http-503", timeouts=FAST)),
        ("b", OpenAICompatChat(f_url, model="http-401", timeouts=FAST)),
    ])  # fmt: skip
    with pytest.raises(
        BackendUnavailable, match=r"every chat backend failed: a: .*503.*; b: .*401"
    ):
        await _answer(chat)
    await chat.aclose()


@pytest.mark.anyio
async def test_soak_1000_requests_with_random_faults(servers) -> None:  # type: ignore[no-untyped-def]
    """1,000 requests, 30 % of the primary's answers faulty, the primary killed at 600:
    nothing hangs, every failure is an error the caller sees, the fallback serves the rest."""
    (p_url, primary), (f_url, fallback) = servers
    chat = _chain(p_url, "random-30", f_url, LOADED, failures=5, cooldown_s=0.2)
    outcomes: list[str] = []
    hung = 0
    rng = random.Random(1)

    async def one(i: int) -> None:
        nonlocal hung
        if i == 600:
            primary.disabled = {"chat"}  # the primary "dies": its chat route is gone
        await asyncio.sleep(rng.random() * 0.01)
        try:
            async with asyncio.timeout(30):  # far above every configured timeout
                text = await _answer(chat)
            outcomes.append("ok" if text == "Hello from the fault server." else f"bad:{text}")
        except TimeoutError:
            hung += 1
        except BackendError as exc:
            outcomes.append(f"error:{type(exc).__name__}")

    semaphore = asyncio.Semaphore(50)

    async def limited(i: int) -> None:
        async with semaphore:
            await one(i)

    await asyncio.gather(*(limited(i) for i in range(1000)))
    await chat.aclose()
    assert hung == 0 and len(outcomes) == 1000
    assert not [o for o in outcomes if o.startswith("bad:")]  # no silent truncation
    errors = [o for o in outcomes if o.startswith("error")]
    mid_stream = sum(primary.calls[f"random:{f}"] for f in ("stall-mid", "cut", "malformed"))
    # Only faults after the first token reach the caller; all the others were failed over.
    assert len(errors) == mid_stream
    assert outcomes.count("ok") == 1000 - mid_stream
    assert fallback.calls["ok"] > 0


def test_each_backend_can_have_its_own_timeouts() -> None:
    from contextlib import ExitStack

    from ragserve.config import Settings

    settings = Settings(
        llm_first_token_timeout_s=90,
        llm_backends=[
            {"name": "slow-gpu", "base_url": "http://a/v1", "first_token_timeout_s": 300},
            {"name": "cpu", "base_url": "http://b/v1"},
        ],
    )
    with ExitStack() as stack:
        chain = ChatChain(settings, stack)
        chain.reload(settings.chat_chain)
        limits = [m.backend.timeouts.first_token for m in chain.members]  # type: ignore[attr-defined]
    assert limits == [300, 90]
