"""The history of the order service's tables, as Alembic revisions (branch ``order``).

``init-db`` applies every service's revisions in order (``shared/migrations``).
"""
