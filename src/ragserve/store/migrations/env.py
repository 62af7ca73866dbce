"""Alembic environment: ragserve hands it an open connection (see ``store/db.py``)."""

from __future__ import annotations

from alembic import context

from ragserve.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
