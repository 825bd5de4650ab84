"""docker/: what can be checked without a Docker engine.

The compose file parses and points at files that exist, the Dockerfile
starts a registered command, the environment it sets is valid callmeter
configuration, and the entrypoint script reads the AMI secret as described.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from callmeter.settings import load_settings
from tests.docs.cli_commands import REPO, find_command

DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
ENTRYPOINT = DOCKER / "entrypoint.sh"
ASTERISK_ADDRESS = "172.28.0.10"

# Mounted folders that are not in git but made by a script in the repository.
GENERATED_PATHS: dict[str, str] = {
    "../dialplan/prompts/sounds": "../dialplan/prompts/render.sh",
}

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [
        line
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = "\n".join(lines).replace("\\\n", " ")
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _instruction(name: str) -> list[str]:
    return [arguments for keyword, arguments in _dockerfile_instructions() if keyword == name]


def _exec_form(arguments: str) -> list[str]:
    parsed = yaml.safe_load(arguments)  # JSON arrays are valid YAML
    assert isinstance(parsed, list), f"expected the exec form [...], got {arguments!r}"
    return [str(item) for item in parsed]


def _dockerfile_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for arguments in _instruction("ENV"):
        for pair in arguments.split():
            name, separator, value = pair.partition("=")
            assert separator, f"use ENV NAME=VALUE, got {pair!r}"
            environment[name] = value
    return environment


def _interpolate(value: str) -> str:
    """Replace ${VAR}, ${VAR:-default} and ${VAR:?message} with a sample value."""
    return _INTERPOLATION.sub(lambda match: f"sample-{match.group(1).lower()}", value)


def _service_environment(service: str) -> dict[str, str]:
    configured = _compose()["services"][service].get("environment", {})
    assert isinstance(configured, dict), "write environment: as a mapping"
    return {name: _interpolate(str(value)) for name, value in configured.items()}


def _generator_of(source: str) -> str | None:
    """Return the script that makes a generated mount source, or None for a source in git."""
    for generated, generator in GENERATED_PATHS.items():
        if source == generated or source.startswith(generated + "/"):
            return generator
    return None


def _bind_mount_cases() -> list[Any]:
    cases = []
    for name, service in _compose()["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                continue  # a named volume
            source = _generator_of(source) or source
            cases.append(pytest.param(name, source, id=f"{name}:{source}"))
    return cases


class TestCompose:
    def test_compose_has_the_four_services(self) -> None:
        services = _compose()["services"]

        assert set(services) == {"postgres", "migrate", "callmeter", "asterisk"}

    def test_postgres_is_16_with_volume_and_healthcheck(self) -> None:
        compose = _compose()
        postgres = compose["services"]["postgres"]
        volume_names = [mount.split(":")[0] for mount in postgres["volumes"]]

        assert postgres["image"] == "postgres:16"
        assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
        assert volume_names[0] in compose["volumes"]

    @pytest.mark.parametrize("service", ["migrate", "callmeter"])
    def test_build_context_is_repo_root(self, service: str) -> None:
        build = _compose()["services"][service]["build"]
        context = (DOCKER / build["context"]).resolve()

        assert context == REPO
        assert (context / build["dockerfile"]).is_file()
        assert (context / "pyproject.toml").is_file()

    def test_migrate_runs_db_upgrade_after_postgres(self) -> None:
        migrate = _compose()["services"]["migrate"]

        assert migrate["command"] == ["db", "upgrade"]
        assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"

    def test_callmeter_waits_for_migration(self) -> None:
        callmeter = _compose()["services"]["callmeter"]

        assert callmeter["command"] == ["run"]
        assert callmeter["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert callmeter["depends_on"]["migrate"]["condition"] == "service_completed_successfully"

    @pytest.mark.parametrize(("service", "source"), _bind_mount_cases())
    def test_bind_mount_source_exists(self, service: str, source: str) -> None:
        assert (DOCKER / source).exists(), f"{service} mounts {source}, which does not exist"

    def test_asterisk_mounts_dialplan_folder(self) -> None:
        mounts = _compose()["services"]["asterisk"]["volumes"]

        assert "../dialplan:/etc/asterisk/callmeter:ro" in mounts

    def test_prompt_mounts_match_render_output(self) -> None:
        mounts = _compose()["services"]["asterisk"]["volumes"]

        for language in ("nl", "en"):
            source = f"../dialplan/prompts/sounds/{language}/callmeter"
            assert f"{source}:/var/lib/asterisk/sounds/{language}/callmeter:ro" in mounts

    def test_asterisk_overlay_includes_dialplan_files(self) -> None:
        for name in ("extensions.conf", "queues.conf"):
            overlay = (DOCKER / "asterisk" / name).read_text(encoding="utf-8")

            assert f'#include "callmeter/{name}"' in overlay

    def test_agi_global_points_at_callmeter_service(self) -> None:
        overlay = (DOCKER / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
        appended_globals = overlay.partition("[globals](+)")[2]

        assert "CALLMETER_AGI=agi://callmeter:4573/admit" in appended_globals

    def test_secret_files_have_examples(self) -> None:
        for name, secret in _compose()["secrets"].items():
            path = DOCKER / secret["file"]

            assert path.with_name(path.name + ".example").is_file(), f"secret {name} has no example file"

    def test_secret_files_are_git_ignored(self) -> None:
        ignored = (DOCKER / ".gitignore").read_text(encoding="utf-8").split()

        assert ".env" in ignored
        for secret in _compose()["secrets"].values():
            assert Path(secret["file"]).name in ignored

    def test_fastagi_peer_is_asterisk_address(self) -> None:
        compose = _compose()
        asterisk_network = compose["services"]["asterisk"]["networks"]["callmeter"]

        assert asterisk_network["ipv4_address"] == ASTERISK_ADDRESS
        assert ASTERISK_ADDRESS in _service_environment("callmeter")["CALLMETER_FASTAGI__ALLOWED_PEERS"]

    def test_manager_conf_permits_callmeter_address(self) -> None:
        callmeter_address = _compose()["services"]["callmeter"]["networks"]["callmeter"]["ipv4_address"]
        manager = (DOCKER / "asterisk" / "manager.conf").read_text(encoding="utf-8")

        assert f"permit = {callmeter_address}/255.255.255.255" in manager
        assert "timestampevents = yes" in manager
        assert '#include "/run/secrets/ami_secret"' in manager


class TestDockerfile:
    def test_base_is_slim_python_311(self) -> None:
        assert _instruction("FROM") == ["python:3.11-slim"]

    def test_runs_as_non_root_user(self) -> None:
        users = _instruction("USER")

        assert users
        assert users[-1] not in {"root", "0"}

    def test_copied_sources_exist(self) -> None:
        for arguments in _instruction("COPY"):
            *sources, _destination = arguments.split()
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: no such path in the build context"

    def test_exposes_fastagi_and_api_ports(self) -> None:
        exposed = " ".join(_instruction("EXPOSE")).split()

        assert "4573" in exposed
        assert "8000" in exposed

    def test_services_bind_all_interfaces(self) -> None:
        environment = _dockerfile_environment()

        assert environment["CALLMETER_API__HOST"] == "0.0.0.0"
        assert environment["CALLMETER_FASTAGI__HOST"] == "0.0.0.0"

    def test_healthcheck_polls_health_without_token(self) -> None:
        healthcheck = " ".join(_instruction("HEALTHCHECK"))

        assert "/health" in healthcheck
        assert "urllib.request" in healthcheck
        assert _dockerfile_environment()["CALLMETER_API__OPEN_HEALTH"] == "true"

    def test_healthcheck_code_compiles(self) -> None:
        command = _exec_form(" ".join(_instruction("HEALTHCHECK")).partition("CMD ")[2])

        assert command[:2] == ["python", "-c"]
        compile(command[2], "<healthcheck>", "exec")

    def test_entrypoint_is_copied_script(self) -> None:
        entrypoint = _exec_form(_instruction("ENTRYPOINT")[-1])
        copies = [arguments.split() for arguments in _instruction("COPY")]

        assert entrypoint == ["/usr/local/bin/callmeter-entrypoint"]
        assert ["docker/entrypoint.sh", "/usr/local/bin/callmeter-entrypoint"] in copies
        assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR

    def test_console_script_is_declared(self) -> None:
        import tomllib

        project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

        assert project["scripts"]["callmeter"] == "callmeter.cli:main"

    def test_cmd_is_registered_command(self) -> None:
        command = _exec_form(_instruction("CMD")[-1])

        assert command == ["run"]
        assert find_command("run") is not None, "the image runs `callmeter run`, which is not registered"


class TestEnvironment:
    def test_image_environment_is_valid_configuration(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in _dockerfile_environment().items():
            if name.startswith("CALLMETER_"):
                monkeypatch.setenv(name, value)

        settings = load_settings()

        assert settings.api.host == "0.0.0.0"
        assert settings.api.port == 8000
        assert settings.api.open_health is True
        assert settings.fastagi.host == "0.0.0.0"
        assert settings.fastagi.port == 4573

    @pytest.mark.parametrize("service", ["migrate", "callmeter"])
    def test_compose_environment_is_valid_configuration(
        self, service: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        environment = {**_dockerfile_environment(), **_service_environment(service)}
        for name, value in environment.items():
            if name.startswith("CALLMETER_"):
                monkeypatch.setenv(name, value)

        settings = load_settings()

        assert settings.database_url.startswith("postgresql+psycopg://callmeter:")
        assert "@postgres:5432/callmeter" in settings.database_url
        if service == "callmeter":
            assert settings.fastagi.allowed_peers == (ASTERISK_ADDRESS,)
            assert settings.ami.host == "asterisk"


class TestEntrypoint:
    """Run docker/entrypoint.sh with a stand-in `callmeter` that prints what it got."""

    @pytest.fixture
    def run_entrypoint(self, tmp_path: Path) -> Any:
        bin_directory = tmp_path / "bin"
        bin_directory.mkdir()
        stand_in = bin_directory / "callmeter"
        stand_in.write_text(
            f'#!{sys.executable}\nimport os, sys\nprint(sys.argv[1:], os.environ.get("CALLMETER_AMI__SECRET"))\n',
            encoding="utf-8",
        )
        stand_in.chmod(0o755)

        def run(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["sh", str(ENTRYPOINT), *arguments],
                env={"PATH": f"{bin_directory}{os.pathsep}{os.environ['PATH']}", **environment},
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )

        return run

    def test_secret_read_from_file(self, run_entrypoint: Any, tmp_path: Path) -> None:
        secret_file = tmp_path / "ami_secret"
        secret_file.write_text("; AMI secret\n  secret = s3cret-value  \n", encoding="utf-8")

        result = run_entrypoint("run", environment={"AMI_SECRET_FILE": str(secret_file)})

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['run'] s3cret-value"

    def test_environment_secret_wins_over_file(self, run_entrypoint: Any, tmp_path: Path) -> None:
        secret_file = tmp_path / "ami_secret"
        secret_file.write_text("secret = from-file\n", encoding="utf-8")

        result = run_entrypoint(
            "db",
            "upgrade",
            environment={"AMI_SECRET_FILE": str(secret_file), "CALLMETER_AMI__SECRET": "from-env"},
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['db', 'upgrade'] from-env"

    def test_missing_secret_file_exits_2(self, run_entrypoint: Any, tmp_path: Path) -> None:
        result = run_entrypoint("run", environment={"AMI_SECRET_FILE": str(tmp_path / "absent")})

        assert result.returncode == 2
        assert "AMI_SECRET_FILE" in result.stderr
        assert result.stdout == ""

    def test_secret_file_without_secret_line_exits_2(self, run_entrypoint: Any, tmp_path: Path) -> None:
        secret_file = tmp_path / "ami_secret"
        secret_file.write_text("; nothing here\n", encoding="utf-8")

        result = run_entrypoint("run", environment={"AMI_SECRET_FILE": str(secret_file)})

        assert result.returncode == 2
        assert "secret = ..." in result.stderr

    def test_example_secret_file_is_readable(self, run_entrypoint: Any) -> None:
        example = DOCKER / "ami-secret.conf.example"

        result = run_entrypoint("run", environment={"AMI_SECRET_FILE": str(example)})

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "['run'] change-me"


class TestMakefile:
    @pytest.mark.parametrize("target", ["demo", "test"])
    def test_readme_command_is_make_target(self, target: str) -> None:
        makefile = (REPO / "Makefile").read_text(encoding="utf-8")

        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"Makefile has no target {target!r}"

    @pytest.mark.parametrize("readme", ["README.md", "README.nl.md"])
    @pytest.mark.parametrize("command", ["make demo", "make test"])
    def test_readme_shows_make_command(self, readme: str, command: str) -> None:
        assert command in (REPO / readme).read_text(encoding="utf-8")


class TestHealthRoute:
    """The HEALTHCHECK's request, sent in-process to the API with the image's settings."""

    @pytest.fixture
    def client(self, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
        try:
            from api.app import create_app
        except ImportError:
            pytest.skip("the api package has no create_app")
        from fastapi.testclient import TestClient

        from callmeter.db import Database

        for name, value in _dockerfile_environment().items():
            if name.startswith("CALLMETER_"):
                monkeypatch.setenv(name, value)
        database = Database(sqlite_url)
        yield TestClient(create_app(load_settings(database_url=sqlite_url), database))
        database.dispose()

    def test_health_open_without_token(self, client: Any) -> None:
        response = client.get("/health")

        assert response.status_code == 200, response.text
        assert response.json()["database"] == "ok"

    def test_metrics_open_without_token(self, client: Any) -> None:
        response = client.get("/metrics")

        assert response.status_code == 200, response.text

    def test_customers_still_need_token(self, client: Any) -> None:
        response = client.get("/customers")

        assert response.status_code == 401
