"""The caller of a request: a user (by key or session), the single shared key, or nobody
(open mode). Routes never read keys themselves; they are given a Principal."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

#: What a key may be used for; a user's key holds a subset of these.
SCOPES = ("read", "ingest", "admin")
Via = Literal["key", "session", "single-key", "open"]


class Role(IntEnum):
    """A role on one collection; each includes the ones below it."""

    viewer = 1  # search and chat
    editor = 2  # also upload, re-index and delete documents
    owner = 3  # also share, reconfigure and delete the collection


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    name: str
    is_admin: bool
    scopes: frozenset[str]
    groups: frozenset[str]
    via: Via

    @property
    def is_user(self) -> bool:
        """A signed-in user (key or session), as opposed to single-key or open mode."""
        return self.via in ("key", "session")


def legacy_principal(via: Literal["single-key", "open"], admin: bool) -> Principal:
    """Single-key and open mode: one admin-equivalent caller, exactly as before users."""
    return Principal(
        user_id=None,
        name="admin" if admin else via,
        is_admin=True,
        scopes=frozenset(SCOPES),
        groups=frozenset(),
        via=via,
    )
