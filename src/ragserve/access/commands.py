"""``ragserve users|keys|groups``: manage who may use the server, while it runs.

They write the SQL store directly (SQLite in WAL mode takes a second writer), and the server
reads keys from it on every request: a revoked key is refused from its next request on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ragserve.access.directory import UserDirectory
from ragserve.config import Settings
from ragserve.errors import RagserveError
from ragserve.store.db import Database

users_app = typer.Typer(help="Users: create (prints the first key), list, disable, delete.")
keys_app = typer.Typer(help="API keys: create (printed once), list, revoke.")
groups_app = typer.Typer(help="Groups of users, for sharing collections with many at once.")

out = Console()
err = Console(stderr=True)
ACTOR = "cli"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@contextmanager
def _directory() -> Iterator[UserDirectory]:
    try:
        settings = Settings()
    except ValueError as exc:
        err.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        db = Database.for_settings(settings)
    except RagserveError as exc:  # e.g. the database server does not answer
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        yield UserDirectory(db)
    except RagserveError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        db.close()


def parse_expiry(text: str) -> datetime:
    """``30d``, ``12h``, ``2w``... from now, or an ISO 8601 time (UTC when it has no zone)."""
    found = _DURATION.match(text.strip())
    if found:
        amount, unit = int(found.group(1)), _UNITS[found.group(2)]
        return datetime.now(UTC) + timedelta(**{unit: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter("use 30d, 12h, 2w or an ISO 8601 time") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@users_app.command("create")
def users_create(
    name: str,
    admin: Annotated[bool, typer.Option("--admin", help="May do and see everything.")] = False,
) -> None:
    """Create a user; the last line printed is their API key (shown only this once)."""
    with _directory() as directory:
        user, key = directory.create_user(name, admin, ACTOR)
        role = "admin" if user.is_admin else "user"
        out.print(f"created {role} {user.name!r} (id {user.id}); their API key, shown once:")
        typer.echo(key.secret)


@users_app.command("list")
def users_list() -> None:
    with _directory() as directory:
        table = Table("id", "name", "admin", "disabled", "sso", "groups")
        for user in directory.users.all():
            groups = ", ".join(sorted(directory.groups.of_user(user.id)))
            table.add_row(
                str(user.id), user.name, "yes" if user.is_admin else "",
                "yes" if user.disabled else "", "yes" if user.sso_subject else "", groups,
            )  # fmt: skip
        out.print(table)


@users_app.command("disable")
def users_disable(
    name: str, enable: Annotated[bool, typer.Option("--enable", help="Undo.")] = False
) -> None:
    """Refuse the user's keys and sessions from their next request on (or allow them again)."""
    with _directory() as directory:
        directory.set_disabled(name, not enable, ACTOR)
        out.print(f"{'enabled' if enable else 'disabled'} {name!r}")


@users_app.command("delete")
def users_delete(name: str) -> None:
    """Delete the user, their keys and shares; collections they owned go back to admins."""
    with _directory() as directory:
        directory.delete_user(name, ACTOR)
        out.print(f"deleted {name!r}")


@keys_app.command("create")
def keys_create(
    user: str,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="read, ingest or admin; repeat for several."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="30d, 12h, 2w, or an ISO 8601 time.")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "",
) -> None:
    """A new key for USER; the last line printed is the key (shown only this once)."""
    when = parse_expiry(expires) if expires else None
    with _directory() as directory:
        row, key = directory.create_key(directory.user(user), name, scope or ["read"], when, ACTOR)
        out.print(f"key {row.id} ({', '.join(row.scopes)}) for {user!r}, shown once:")
        typer.echo(key.secret)


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Refuse the key from its next request on."""
    with _directory() as directory:
        directory.revoke_key(key_id, ACTOR)
        out.print(f"revoked key {key_id}")


@keys_app.command("list")
def keys_list(user: Annotated[str | None, typer.Argument()] = None) -> None:
    with _directory() as directory:
        names = {u.id: u.name for u in directory.users.all()}
        user_id = directory.user(user).id if user else None
        table = Table("id", "user", "prefix", "name", "scopes", "expires", "last used", "state")
        for k in directory.keys.of_user(user_id):
            table.add_row(
                str(k.id), names.get(k.user_id, "?"), k.prefix, k.name, ",".join(k.scopes),
                k.expires_at.isoformat() if k.expires_at else "",
                k.last_used_at.isoformat() if k.last_used_at else "",
                "revoked" if k.revoked_at else "active",
            )  # fmt: skip
        out.print(table)


@groups_app.command("create")
def groups_create(name: str) -> None:
    with _directory() as directory:
        directory.group_create(name, ACTOR)
        out.print(f"created group {name!r}")


@groups_app.command("add")
def groups_add(group: str, user: str) -> None:
    """Add USER to GROUP (made if missing)."""
    with _directory() as directory:
        directory.group_add(group, user, ACTOR)
        out.print(f"added {user!r} to {group!r}")


@groups_app.command("remove")
def groups_remove(group: str, user: str) -> None:
    with _directory() as directory:
        directory.group_remove(group, user, ACTOR)
        out.print(f"removed {user!r} from {group!r}")


@groups_app.command("list")
def groups_list() -> None:
    with _directory() as directory:
        table = Table("group", "members")
        for group, members in directory.groups.all():
            table.add_row(group.name, ", ".join(members))
        out.print(table)
