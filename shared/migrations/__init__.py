"""The schema's history, as Alembic revisions: ``init-db`` upgrades any database to the newest.

``versions/`` holds one revision per change, oldest first; ``0001`` is the schema the first
release created, so a database of that release upgrades in place. A new revision: copy the
newest file, give it the next number and ``down_revision`` the current one, and change the
services' models to match (a test compares the models with the upgraded database).
"""
