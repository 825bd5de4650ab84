"""The token service and the token commands of the CLI."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from callmeter.db import Database
from callmeter.db.models import ApiToken
from callmeter.errors import InvalidInput
from callmeter.tokens import service as tokens


class TestTokenService:
    def test_only_the_hash_is_stored(self, db: Database) -> None:
        with db.write() as session:
            plaintext, token = tokens.create(session, "balie", "read")

        with db.read() as session:
            stored = session.query(ApiToken).one()
            assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
            assert plaintext not in (stored.token_hash, stored.name)
        assert token.scope == "read"
        assert plaintext.startswith("cm_")

    def test_verify_accepts_active_token(self, db: Database) -> None:
        with db.write() as session:
            plaintext, _ = tokens.create(session, "balie", "write")

        with db.read() as session:
            found = tokens.verify(session, plaintext)
            assert found is not None
            assert found.name == "balie"

    def test_verify_rejects_wrong_and_revoked(self, db: Database) -> None:
        with db.write() as session:
            plaintext, _ = tokens.create(session, "balie", "write")
            tokens.revoke(session, "balie")

        with db.read() as session:
            assert tokens.verify(session, plaintext) is None
            assert tokens.verify(session, plaintext + "x") is None
            assert tokens.verify(session, "") is None

    def test_duplicate_name_is_conflict(self, db: Database) -> None:
        with db.write() as session:
            tokens.create(session, "balie", "read")

        with pytest.raises(tokens.DuplicateToken), db.write() as session:
            tokens.create(session, "balie", "write")

    @pytest.mark.parametrize(("name", "scope"), [("", "read"), ("met spatie", "read"), ("balie", "admin")])
    def test_invalid_name_or_scope(self, db: Database, name: str, scope: str) -> None:
        with pytest.raises(InvalidInput), db.write() as session:
            tokens.create(session, name, scope)

    def test_revoke_unknown_is_not_found(self, db: Database) -> None:
        with pytest.raises(tokens.UnknownToken), db.write() as session:
            tokens.revoke(session, "niemand")


class TestTokenCommands:
    def test_create_list_revoke(self, cli: Any, sqlite_url: str) -> None:
        env = {"CALLMETER_DATABASE_URL": sqlite_url}

        created = cli("token", "create", "--name", "balie", "--scope", "read", env=env)
        listed = cli("token", "list", "--json", env=env)
        revoked = cli("token", "revoke", "balie", env=env)
        listed_after = cli("token", "list", env=env)

        assert created.exit_code == 0, created.stderr
        assert "maar één keer getoond" in created.stdout
        plaintext = next(line for line in created.stdout.splitlines() if line.startswith("cm_"))
        assert '"name": "balie"' in listed.stdout
        assert plaintext not in listed.stdout
        assert revoked.exit_code == 0
        assert "ingetrokken" in revoked.stdout
        assert "balie" in listed_after.stdout
        database = Database(sqlite_url)
        with database.read() as session:
            assert tokens.verify(session, plaintext) is None
        database.dispose()

    def test_bad_scope_exits_2_in_dutch(self, cli: Any, sqlite_url: str) -> None:
        result = cli(
            "token",
            "create",
            "--name",
            "balie",
            "--scope",
            "admin",
            env={"CALLMETER_DATABASE_URL": sqlite_url},
        )

        assert result.exit_code == 2
        assert "Ongeldige scope 'admin'" in result.stderr

    def test_unmigrated_database_exits_2(self, cli: Any, tmp_path: Any) -> None:
        url = f"sqlite:///{tmp_path / 'empty.db'}"

        result = cli("token", "list", env={"CALLMETER_DATABASE_URL": url})

        assert result.exit_code == 2
        assert "callmeter db upgrade" in result.stderr
