"""Database access: engines, sessions, locking and migrations."""

from callmeter.db.engine import Database, normalise_url

__all__ = ["Database", "normalise_url"]
