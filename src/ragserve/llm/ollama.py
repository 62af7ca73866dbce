"""Ollama through its OpenAI-compatible ``/v1``, with the context window it really uses.

Ollama's ``/v1/models`` says nothing about context, and it silently truncates prompts to
its ``num_ctx`` (2,048 tokens by default in many versions), which cuts RAG sources off.
The window is read from Ollama's own API: the running model's ``context_length``
(``/api/ps``), else ``num_ctx`` from the model's parameters (``/api/show``), else 2,048.
"""

from __future__ import annotations

import logging
import re

import httpx

from ragserve.llm.openai_compat import OpenAICompatChat

log = logging.getLogger(__name__)

OLLAMA_DEFAULT_CONTEXT = 2048
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)", re.M)


class OllamaChat(OpenAICompatChat):
    @property
    def native_url(self) -> str:
        return re.sub(r"/v1$", "", self.base_url)

    async def context_window(self) -> int:
        if self._context_window is None:
            self._context_window = await self._ollama_context()
        return self._context_window

    async def _ollama_context(self) -> int:
        model = await self.model_name()
        try:
            async with httpx.AsyncClient(base_url=self.native_url, timeout=10) as http:
                ps = await http.get("/api/ps")
                if ps.is_success:
                    for running in ps.json().get("models", []):
                        if running.get("name") == model and running.get("context_length"):
                            return int(running["context_length"])
                show = await http.post("/api/show", json={"model": model})
                if show.is_success:
                    found = _NUM_CTX.search(show.json().get("parameters") or "")
                    if found:
                        return int(found.group(1))
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("could not read Ollama's context window: %s", exc)
        return OLLAMA_DEFAULT_CONTEXT
