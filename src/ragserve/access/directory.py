"""Users, groups, keys and shares over the SQL store: what the CLI and the server both use.

A key's principal is kept for at most ``KEY_CACHE_TTL_S`` per process (each lookup is a few
SQL reads, per request): a key revoked or a user disabled on the command line is refused
within that second, and through the API (which clears the cache) at once. "Does any user
exist" is cached as long.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ragserve.access.principal import SCOPES, Principal
from ragserve.access.tokens import NewKey, key_digest, new_key
from ragserve.errors import AlreadyExists, InvalidRequest, NotFound
from ragserve.store.db import Database
from ragserve.store.repositories.audit import AuditRepository
from ragserve.store.repositories.groups import GroupRepository
from ragserve.store.repositories.keys import KeyRepository
from ragserve.store.repositories.members import MemberRepository
from ragserve.store.repositories.users import UserRepository
from ragserve.store.tables import ApiKeyRow, UserRow

#: Seconds the server may keep believing no user exists after the first one is created.
USERS_EXIST_TTL_S = 1.0
#: Seconds a key's principal is reused before the database is asked again.
KEY_CACHE_TTL_S = 1.0
#: Most keys cached (a flood of valid keys cannot grow it past this).
KEY_CACHE_SIZE = 10_000
#: A key's last use is written at most this often (a write per request would be wasteful).
TOUCH_EVERY = timedelta(seconds=60)


def scopes_for(user: UserRow) -> frozenset[str]:
    """Every scope the user may hold: admin only for admins."""
    return frozenset(s for s in SCOPES if s != "admin" or user.is_admin)


class UserDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserRepository(db)
        self.keys = KeyRepository(db)
        self.groups = GroupRepository(db)
        self.members = MemberRepository(db)
        self.audit_log = AuditRepository(db)
        self._exist: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()
        self._principals: dict[str, tuple[float, Principal]] = {}

    # -- requests ----------------------------------------------------------------------------
    def has_users(self) -> bool:
        """Whether any user exists: once one does, every /api and /v1 route needs a key."""
        checked, exist = self._exist
        if exist or time.monotonic() - checked < USERS_EXIST_TTL_S:
            return exist
        with self._lock:
            self._exist = (time.monotonic(), self.users.any())
        return self._exist[1]

    def authenticate(self, key: str) -> Principal | None:
        """The key's user, or None if it is unknown, revoked, expired or its user disabled."""
        digest = key_digest(key)
        cached = self._principals.get(digest)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_TTL_S:
            return cached[1]
        principal = self._lookup(digest)
        if principal is not None:
            if len(self._principals) >= KEY_CACHE_SIZE:
                self._principals.clear()
            self._principals[digest] = (time.monotonic(), principal)
        return principal

    def forget_keys(self) -> None:
        """Drop cached principals: a change made here applies from the next request."""
        self._principals.clear()

    def _lookup(self, digest: str) -> Principal | None:
        found = self.keys.with_user(digest)
        if found is None:
            return None
        row, user = found
        now = datetime.now(UTC)
        if row.revoked_at is not None or user.disabled:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
            self.keys.touch(row.id, now)
        return self._principal(user, frozenset(row.scopes) & scopes_for(user), "key")

    def _principal(self, user: UserRow, scopes: frozenset[str], via: Any) -> Principal:
        return Principal(
            user_id=user.id,
            name=user.name,
            is_admin=user.is_admin,
            scopes=scopes,
            groups=self.groups.of_user(user.id),
            via=via,
        )

    async def principal_for_user(self, user_id: int) -> Principal | None:
        """A session's principal: every scope the user may hold; None if disabled or gone."""
        user = await asyncio.to_thread(self.users.get, user_id)
        if user is None or user.disabled:
            return None
        return await asyncio.to_thread(self._principal, user, scopes_for(user), "session")

    async def upsert_sso_user(
        self, subject: str, name: str, email: str | None, groups: Sequence[str], admin: bool
    ) -> Principal:
        """The SSO user, made on first login; groups and admin refreshed from the claims."""
        return await asyncio.to_thread(self._upsert_sso, subject, name, email, groups, admin)

    def _upsert_sso(
        self, subject: str, name: str, email: str | None, groups: Sequence[str], admin: bool
    ) -> Principal:
        user = self.users.by_subject(subject)
        if user is None:
            taken = self.users.by_name(name)
            if taken is not None:  # a command-line user of that name: keep both apart
                name = f"{name}@sso"
            user = self.users.add(
                UserRow(name=name, is_admin=admin, sso_subject=subject, email=email)
            )
            self.record("sso", "user.create", name, admin=admin)
            self._exist = (time.monotonic(), True)
        else:
            self.users.update(user.id, is_admin=admin, email=email)
        self.groups.set_user_groups(user.id, groups)
        refreshed = self.users.get(user.id)
        assert refreshed is not None
        if refreshed.disabled:
            raise NotFound(f"user {refreshed.name!r} is disabled")
        return self._principal(refreshed, scopes_for(refreshed), "session")

    # -- administration (CLI and API) --------------------------------------------------------
    def create_user(self, name: str, admin: bool, actor: str) -> tuple[UserRow, NewKey]:
        """The user and their first key (every scope they may hold)."""
        if self.users.by_name(name) is not None:
            raise AlreadyExists(f"user {name!r} already exists")
        user = self.users.add(UserRow(name=name, is_admin=admin))
        self._exist = (time.monotonic(), True)
        self.record(actor, "user.create", name, admin=admin)
        _, key = self.create_key(user, "initial", sorted(scopes_for(user)), None, actor)
        return user, key

    def user(self, name: str) -> UserRow:
        user = self.users.by_name(name)
        if user is None:
            raise NotFound(f"no user {name!r}")
        return user

    def set_disabled(self, name: str, disabled: bool, actor: str) -> None:
        user = self.user(name)
        self.users.update(user.id, disabled=disabled)
        self.forget_keys()
        self.record(actor, "user.disable" if disabled else "user.enable", name)

    def delete_user(self, name: str, actor: str) -> None:
        self.users.delete(self.user(name).id)
        self.forget_keys()
        self.record(actor, "user.delete", name)

    def create_key(
        self,
        user: UserRow,
        name: str,
        scopes: Sequence[str],
        expires_at: datetime | None,
        actor: str,
    ) -> tuple[ApiKeyRow, NewKey]:
        wanted = set(scopes)
        unknown = wanted - set(SCOPES)
        if unknown or not wanted:
            raise InvalidRequest(
                f"scopes must be some of {', '.join(SCOPES)}; got {sorted(wanted)}", "scopes"
            )
        if not wanted <= scopes_for(user):
            raise InvalidRequest(f"{user.name!r} is not an admin: no 'admin' scope", "scopes")
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        key = new_key()
        row = self.keys.add(
            ApiKeyRow(
                user_id=user.id,
                name=name,
                prefix=key.prefix,
                key_hash=key.digest,
                scopes=sorted(wanted),
                expires_at=expires_at,
            )
        )
        self.record(actor, "key.create", f"{user.name}/{key.prefix}", scopes=sorted(wanted))
        return row, key

    def revoke_key(self, key_id: int, actor: str, user_id: int | None = None) -> None:
        """Revoke a key (only one of ``user_id``'s when given); unknown keys are NotFound."""
        row = self.keys.get(key_id)
        if row is None or (user_id is not None and row.user_id != user_id):
            raise NotFound(f"no key {key_id}")
        self.keys.revoke(key_id, datetime.now(UTC))
        self.forget_keys()
        self.record(actor, "key.revoke", row.prefix)

    def group_add(self, group: str, user: str, actor: str) -> None:
        row = self.groups.ensure(group)
        self.groups.add_member(row.id, self.user(user).id)
        self.record(actor, "group.add", group, user=user)

    def group_remove(self, group: str, user: str, actor: str) -> None:
        row = self.groups.by_name(group)
        if row is None or not self.groups.remove_member(row.id, self.user(user).id):
            raise NotFound(f"{user!r} is not in group {group!r}")
        self.record(actor, "group.remove", group, user=user)

    def group_create(self, group: str, actor: str) -> None:
        if self.groups.by_name(group) is not None:
            raise AlreadyExists(f"group {group!r} already exists")
        self.groups.ensure(group)
        self.record(actor, "group.create", group)

    def record(self, actor: str, action: str, target: str, **detail: Any) -> None:
        """One audit entry: who did what to what."""
        self.audit_log.add(actor, action, target, detail)
