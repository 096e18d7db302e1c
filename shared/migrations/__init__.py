"""Alembic's runner for ``init-db``: every service's revisions, on init-db's connection.

Each service keeps the history of its own tables in its ``migrations/`` folder (a branch of
its own: ``users``, ``order``); a revision that needs another service's table says so with
``depends_on``. ``init-db`` upgrades every branch to its newest revision. A new revision: copy
the service's newest file, give it the next number and ``down_revision`` the current one, and
change the service's models to match (a test compares the models with the upgraded database).
"""
