from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request, Response

from ragserve.api.deps import State, require_admin
from ragserve.config import BackendSpec
from ragserve.doctor import check_live_chat
from ragserve.errors import ConfigError, NotFound
from ragserve.llm.fallback import FallbackChat
from ragserve.llm.kinds import chat_kinds
from ragserve.protocol import BackendInfo, BackendResource, DoctorCheck, DoctorReport
from ragserve.store.metadata import BackendRow


def admin_if_configured(request: Request, state: State) -> None:
    """Changing backends makes the server call new URLs: admin-only when an admin key is set."""
    if state.settings.admin_key is not None:
        require_admin(request, state)


router = APIRouter(prefix="/api/resources/backends", tags=["resources"])
Admin = [Depends(admin_if_configured)]


def _infos(state: State) -> list[BackendInfo]:
    stored = {row.name for row in state.ingest.catalog.metadata.list_backends()}
    chat = state.answers.chat
    states = (
        {m.name: m.breaker.state.value for m in chat.members}
        if isinstance(chat, FallbackChat)
        else {}
    )
    return [
        BackendInfo(
            name=spec.label,
            source="store" if spec.name in stored else "settings",
            kind=spec.kind,
            base_url=spec.base_url,
            model=spec.model,
            has_api_key=bool(spec.api_key),
            state=states.get(spec.label),
        )
        for spec in state.switch.specs
    ]


@router.get("", response_model=list[BackendInfo])
def list_backends(state: State) -> list[BackendInfo]:
    """The chat fallback chain in order: stored backends first, then the settings'."""
    return _infos(state)


@router.put("/{name}", response_model=list[BackendInfo], dependencies=Admin)
async def put_backend(name: str, body: BackendResource, state: State) -> list[BackendInfo]:
    """Add or replace a stored chat backend; the chain is rebuilt at once."""
    if body.kind not in chat_kinds():
        raise ConfigError(f"unknown kind {body.kind!r}; known: {', '.join(chat_kinds())}")
    spec = BackendSpec(name=name, **body.model_dump(exclude={"position"}))
    row = BackendRow(name=name, spec=spec.model_dump(exclude={"name"}), position=body.position)
    await asyncio.to_thread(state.ingest.catalog.metadata.save_backend, row)
    await state.reload_backends()
    return _infos(state)


@router.delete("/{name}", status_code=204, dependencies=Admin)
async def delete_backend(name: str, state: State) -> Response:
    """Remove a stored chat backend (backends from the settings cannot be removed here)."""
    if not await asyncio.to_thread(state.ingest.catalog.metadata.delete_backend, name):
        raise NotFound(f"no stored backend {name!r}")
    await state.reload_backends()
    return Response(status_code=204)


@router.post("/{name}/test", response_model=DoctorReport)
async def test_backend(name: str, state: State) -> DoctorReport:
    """The doctor's checks for one backend of the chain (the UI's Test button)."""
    spec = next((s for s in state.switch.specs if s.label == name), None)
    if spec is None:
        raise NotFound(f"no backend {name!r} in the chain")
    backend = await asyncio.to_thread(state.switch.backend_for, spec)
    checks = await check_live_chat(
        state.settings, spec, backend, f"chat endpoint {name}", "LLM_BACKENDS"
    )
    return DoctorReport(
        ok=all(c.ok for c in checks), checks=[DoctorCheck(**c.as_dict()) for c in checks]
    )
