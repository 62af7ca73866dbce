"""The one place that decides what a principal may do on a collection, a conversation or a
job, and what a refusal says.

A collection the caller may not see is refused exactly as a missing one (the same
``CollectionNotFound``), so a refusal never reveals that it exists; a visible collection
with too low a role is 403 naming the role needed. Single-key and open mode callers are
admin-equivalent, as before users existed.
"""

from __future__ import annotations

from ragserve.access.principal import Principal, Role
from ragserve.errors import CollectionNotFound, Forbidden
from ragserve.store.db import Database
from ragserve.store.repositories.collections import CollectionRepository
from ragserve.store.repositories.conversations import ConversationRepository
from ragserve.store.repositories.jobs import JobRepository
from ragserve.store.repositories.members import MemberRepository
from ragserve.store.tables import CollectionRow, ConversationRow, JobRow

#: The key scope each role's actions need: reading, or changing anything.
SCOPE_FOR = {Role.viewer: "read", Role.editor: "ingest", Role.owner: "ingest"}


class Policy:
    def __init__(self, db: Database) -> None:
        self.collections = CollectionRepository(db)
        self.members = MemberRepository(db)
        self.conversations = ConversationRepository(db)
        self.jobs = JobRepository(db)

    def role(self, p: Principal, collection: CollectionRow | str) -> Role | None:
        """The caller's role on the collection; None: it may not see it (or it is missing)."""
        row = self.collections.get(collection) if isinstance(collection, str) else collection
        if row is None:
            return None
        if p.is_admin or not p.is_user or (row.owner_id is not None and row.owner_id == p.user_id):
            return Role.owner
        roles = [Role[r] for _, r in self.members.roles_of(p.name, p.groups, row.name)]
        return max(roles, default=None)

    def require(self, p: Principal, collection: str, need: Role) -> Role:
        """The caller's role, if it is at least ``need`` and the key's scopes allow it."""
        role = self.role(p, collection)
        if role is None:
            raise CollectionNotFound(collection)
        if role < need:
            raise Forbidden(
                f"this needs the {need.name} role on collection {collection!r}; "
                f"you are a {role.name}"
            )
        self.require_scope(p, SCOPE_FOR[need])
        return role

    def readable(self, p: Principal) -> dict[str, Role]:
        """Every collection the caller may read, with its role (two queries in all)."""
        owners = self.members.owners()
        if p.is_admin or not p.is_user:
            return dict.fromkeys(owners, Role.owner)
        if "read" not in p.scopes:
            return {}
        found: dict[str, Role] = {}
        for name, role in self.members.roles_of(p.name, p.groups):
            if name in owners:
                found[name] = max(found.get(name, Role.viewer), Role[role])
        for name, owner in owners.items():
            if owner is not None and owner == p.user_id:
                found[name] = Role.owner
        return found

    def claim_job(self, job_id: str, user_id: int) -> None:
        self.members.claim_job(job_id, user_id)

    @staticmethod
    def require_scope(p: Principal, scope: str) -> None:
        if scope not in p.scopes:
            raise Forbidden(f"this key lacks the {scope!r} scope")

    @staticmethod
    def require_admin(p: Principal) -> None:
        """Admin routes for a signed-in user (single-key mode keeps its admin key rules)."""
        if not p.is_admin:
            raise Forbidden("this route is for admins")
        Policy.require_scope(p, "admin")

    @staticmethod
    def owns_conversation(p: Principal, row: ConversationRow) -> bool:
        """A conversation is its user's alone (single-key and open mode see them all)."""
        return not p.is_user or row.user_id == p.user_id

    def sees_job(self, p: Principal, job: JobRow) -> bool:
        """A job is seen by whoever started it and by the collection's editors."""
        if not p.is_user or p.is_admin or job.user_id == p.user_id:
            return True
        role = self.role(p, job.collection)
        return role is not None and role >= Role.editor
