"""The revisions, applied in order by ``shared.init_db``."""
