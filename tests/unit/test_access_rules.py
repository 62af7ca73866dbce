"""Access rules that need no server: backend address classification (never contacting an
address), backend keys sealed at rest, API key format, and the upgrade from 0004."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from ragserve.access.directory import UserDirectory
from ragserve.access.netguard import blocked_reason, check_backend_url, networks
from ragserve.access.policy import Policy
from ragserve.access.principal import Role
from ragserve.access.secretbox import SecretBox
from ragserve.access.tokens import key_digest, looks_like_user_key, new_key
from ragserve.store.db import MIGRATIONS, Database
from ragserve.store.tables import CollectionRow, ConversationRow, JobRow


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fd00:ec2::254",
        "100.100.100.200",
        "fe80::1",
        "::ffff:169.254.169.254",
        "0.0.0.0",
    ],
)
def test_metadata_and_link_local_addresses_are_refused(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.1.10", "8.8.8.8", "::1"])
def test_ordinary_addresses_are_allowed(address: str) -> None:
    # Loopback and private networks are where self-hosted backends live.
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_the_allowlist_lets_a_named_address_through() -> None:
    allow = networks(["169.254.10.0/24"])
    assert blocked_reason(ipaddress.ip_address("169.254.10.7"), allow) is None
    assert blocked_reason(ipaddress.ip_address("169.254.169.254"), allow) is not None


def test_urls_are_classified_by_their_host() -> None:
    assert "RAGSERVE_BACKEND_ALLOWLIST" in (
        check_backend_url("http://169.254.169.254/latest/meta-data", resolve=False) or ""
    )
    assert check_backend_url("http://[fd00:ec2::254]/v1", resolve=False) is not None
    assert check_backend_url("http://127.0.0.1:8080/v1", resolve=False) is None
    assert check_backend_url("http://llm.internal:8080/v1", resolve=False) is None


def test_backend_keys_are_sealed_and_open_only_with_the_same_secret() -> None:
    box = SecretBox("one secret")
    sealed = box.seal("sk-123")
    assert sealed is not None and sealed.startswith("fernet:") and "sk-123" not in sealed
    assert box.open(sealed) == "sk-123"
    assert SecretBox("another").open(sealed) is None
    assert SecretBox(None).open(sealed) is None
    assert SecretBox(None).seal("sk-123") == "sk-123"  # no secret key: stored as before
    assert box.open("sk-plain") == "sk-plain"  # stored before a secret key was set


def test_keys_are_random_and_stored_as_hashes() -> None:
    a, b = new_key(), new_key()
    assert a.secret != b.secret and a.secret.startswith(a.prefix + "_")
    assert a.digest == key_digest(a.secret) and a.secret not in a.digest
    assert looks_like_user_key(a.secret) and not looks_like_user_key("sk-other")


def test_an_upgrade_from_0004_gives_existing_data_to_the_first_admin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "INSERT INTO collections (name, embed_model, dimension, vector_collection, "
                "created_at) VALUES ('team', 'm', 384, 'team__m', '2026-01-02 03:04:05')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO documents (id, collection, source, status, chunks, updated_at) "
                "VALUES ('d1', 'team', 'a.md', 'ready', 3, '2026-01-02 03:04:05')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO conversations (id, collection, messages, updated_at, created_at, "
                "message_count) VALUES ('c1', 'team', '[]', '2026-01-02', '2026-01-02', 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO jobs (id, collection, created_at) VALUES ('j1', 'team', '2026-01-02')"
            )
        )
    engine.dispose()

    db = Database(url)  # upgrades to 0005
    directory = UserDirectory(db)
    directory.create_user("someone", False, "test")  # not an admin: claims nothing
    with db.session() as s:
        assert s.get(CollectionRow, "team").owner_id is None  # type: ignore[union-attr]
    admin, _ = directory.create_user("root", True, "test")
    with db.session() as s:
        assert s.get(CollectionRow, "team").owner_id == admin.id  # type: ignore[union-attr]
        assert s.get(ConversationRow, "c1").user_id == admin.id  # type: ignore[union-attr]
        assert s.get(JobRow, "j1").user_id == admin.id  # type: ignore[union-attr]
        assert s.execute(text("SELECT count(*) FROM documents")).scalar() == 1  # none lost
    later, _ = directory.create_user("root2", True, "test")  # only the first admin claims
    policy = Policy(db)
    someone = directory.authenticate(directory.create_key(
        directory.user("someone"), "k", ["read"], None, "test")[1].secret)  # fmt: skip
    assert someone is not None and policy.role(someone, "team") is None
    directory.members.put("team", "user", "someone", "viewer")
    assert policy.role(someone, "team") == Role.viewer
    assert later.id != admin.id
    db.close()

    # And back: downgrading drops what 0005 added and keeps every document.
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
        assert connection.execute(text("SELECT count(*) FROM documents")).scalar() == 1
    engine.dispose()
