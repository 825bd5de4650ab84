"""Alembic environment: runs migrations on the connection callmeter passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from callmeter.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # Run from the alembic command line: open our own connection.
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as own_connection:
            _run(own_connection)
            own_connection.commit()
        return
    _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
