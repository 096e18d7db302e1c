"""Alembic's entry point: run the revisions on the connection ``init-db`` hands over."""

from alembic import context

from shared.init_db import SCHEMA

context.configure(connection=context.config.attributes["connection"], target_metadata=SCHEMA)
with context.begin_transaction():
    context.run_migrations()
