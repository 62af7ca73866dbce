"""The access API: who am I, my keys, a collection's members, user and group names, audit."""

from __future__ import annotations

from typing import cast

from ragserve.access.directory import UserDirectory
from ragserve.access.policy import Policy
from ragserve.access.principal import Principal
from ragserve.errors import CollectionNotFound, Forbidden, InvalidRequest, NotFound
from ragserve.protocol import (
    AuditEntry,
    KeyCreate,
    KeyCreated,
    KeyInfo,
    Me,
    Member,
    NameOnly,
    RoleName,
    ScopeName,
)
from ragserve.store.tables import ApiKeyRow

#: Most names a picker search returns.
NAMES_LIMIT = 50


def key_info(row: ApiKeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        name=row.name,
        scopes=cast("list[ScopeName]", sorted(row.scopes)),
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


class AccessServing:
    def __init__(self, users: UserDirectory, policy: Policy) -> None:
        self.users = users
        self.policy = policy

    @staticmethod
    def me(p: Principal) -> Me:
        return Me(
            id=p.user_id,
            name=p.name,
            admin=p.is_admin,
            scopes=cast("list[ScopeName]", sorted(p.scopes)),
            groups=sorted(p.groups),
            via=p.via,
        )

    def keys(self, p: Principal) -> list[KeyInfo]:
        if p.user_id is None:
            return []
        return [key_info(k) for k in self.users.keys.of_user(p.user_id)]

    def create_key(self, p: Principal, body: KeyCreate) -> KeyCreated:
        user = self.users.users.get(p.user_id) if p.user_id is not None else None
        if user is None:
            raise Forbidden("keys belong to users; create one with `ragserve users create NAME`")
        if not set(body.scopes) <= p.scopes:
            raise InvalidRequest("a key cannot have scopes this key lacks", "scopes")
        row, key = self.users.create_key(user, body.name, body.scopes, body.expires_at, p.name)
        return KeyCreated(**key_info(row).model_dump(), key=key.secret)

    def revoke_key(self, p: Principal, key_id: int) -> None:
        if p.user_id is None:
            raise NotFound(f"no key {key_id}")
        self.users.revoke_key(key_id, p.name, user_id=p.user_id)

    def members(self, collection: str) -> list[Member]:
        """The owner first, then every share."""
        found: list[Member] = []
        row = self.policy.collections.get(collection)
        if row is None:
            raise CollectionNotFound(collection)
        owner = self.users.users.get(row.owner_id) if row and row.owner_id else None
        if owner is not None:
            found.append(Member(type="user", name=owner.name, role="owner"))
        for m in self.users.members.of_collection(collection):
            found.append(
                Member(
                    type="user" if m.principal_type == "user" else "group",
                    name=m.principal,
                    role=cast("RoleName", m.role),
                )
            )
        return found

    def share(self, collection: str, member: Member) -> list[Member]:
        if self.policy.collections.get(collection) is None:
            raise CollectionNotFound(collection)
        # The collection in the path exists; a member that does not is a fault of the body
        # (400), not a missing resource (a 404 here reads as "no such collection").
        if member.type == "user":
            if self.users.users.by_name(member.name) is None:
                raise InvalidRequest(f"no user {member.name!r} to share with", "name")
        elif self.users.groups.by_name(member.name) is None:
            raise InvalidRequest(f"no group {member.name!r} to share with", "name")
        self.users.members.put(collection, member.type, member.name, member.role)
        return self.members(collection)

    def unshare(self, collection: str, kind: str, name: str) -> None:
        if not self.users.members.delete(collection, kind, name):
            raise NotFound(f"{kind} {name!r} has no share of collection {collection!r}")

    def user_names(self, contains: str | None) -> list[NameOnly]:
        return [NameOnly(name=n) for n in self.users.users.names(contains, NAMES_LIMIT)]

    def group_names(self) -> list[NameOnly]:
        return [NameOnly(name=g.name) for g, _ in self.users.groups.all()]

    def audit(self, limit: int, offset: int) -> list[AuditEntry]:
        return [
            AuditEntry(
                id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target, detail=r.detail
            )
            for r in self.users.audit_log.page(limit, offset)
        ]
