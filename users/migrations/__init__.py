"""The history of the users service's tables, as Alembic revisions (branch ``users``).

``init-db`` applies every service's revisions in order (``shared/migrations``).
"""
