"""The Dockerfile, docker-compose.yml and Caddyfile, checked without a Docker engine: the compose
file against the Compose Specification, the Dockerfile through Docker's own parser, the proxy
configuration through Caddy, and every ``ROUTEUR_*`` name they set against the real settings."""

from __future__ import annotations

import http.server
import importlib.metadata
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import dockerfile
import pytest
import yaml
from compose_spec import PyCompose

from routeur.envdoc import env_names
from routeur.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CADDYFILE = ROOT / "deploy" / "Caddyfile"

# Settings that other open issues are adding; the deployment files may name them before they
# exist in routeur/settings.py. Remove a name once it is a real setting (a test below says when).
PENDING_SETTINGS: set[str] = set()

REQUIRED = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}")
"""Compose's ``${NAME:?message}``: the variable must be set, compose refuses to start otherwise."""
ROUTEUR_NAME = re.compile(r"\bROUTEUR_[A-Z0-9_]+\b")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def commands() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(DOCKERFILE))


def final_stage(commands: tuple[dockerfile.Command, ...]) -> list[dockerfile.Command]:
    last_from = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return list(commands[last_from:])


def env_of(commands) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for command in commands:
        if command.cmd == "ENV":
            pairs.update(zip(command.value[::2], command.value[1::2], strict=True))
    return pairs


def test_compose_file_follows_the_compose_specification():
    parsed = PyCompose.from_yaml(COMPOSE.read_text(encoding="utf-8"))
    parsed.validate()
    assert set(parsed.service_names()) == {"proxy", "api", "qdrant", "postgres", "redis"}


def test_services_use_the_official_images_at_pinned_versions(compose):
    images = {name: service.get("image", "") for name, service in compose["services"].items()}
    assert images["qdrant"].startswith("qdrant/qdrant:v")
    assert images["postgres"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert images["proxy"].startswith("caddy:")
    for name in ("qdrant", "postgres", "redis", "proxy"):
        tag = images[name].split(":", 1)[1]
        assert tag and tag != "latest", f"{name}: pin a version, not {images[name]!r}"
    assert compose["services"]["api"]["build"] == "."


def test_qdrant_server_is_within_one_minor_version_of_the_client():
    """qdrant-client warns (and may misbehave) past one minor version of difference."""
    tag = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["qdrant"]["image"].split(":v", 1)[1]
    server_major, server_minor = (int(part) for part in tag.split(".")[:2])
    client_major, client_minor = (int(part) for part in importlib.metadata.version("qdrant-client").split(".")[:2])
    assert server_major == client_major and abs(server_minor - client_minor) <= 1, (tag, client_major, client_minor)


def test_every_service_is_health_checked_and_started_after_its_dependencies(compose, commands):
    services = compose["services"]
    for name, service in services.items():
        if name == "api":
            assert any(c.cmd == "HEALTHCHECK" for c in final_stage(commands)), "the API image's HEALTHCHECK covers it"
        else:
            assert service["healthcheck"]["test"][0] == "CMD", name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
            assert condition == {"condition": "service_healthy"}, (name, dependency)
    assert set(services["api"]["depends_on"]) == {"qdrant", "postgres", "redis"}
    assert set(services["proxy"]["depends_on"]) == {"api"}


def test_api_runs_several_workers_reached_only_through_the_proxy(compose):
    api, proxy = compose["services"]["api"], compose["services"]["proxy"]
    assert api["deploy"]["replicas"] >= 2
    assert "ports" not in api, "replicas cannot share a host port: only the proxy publishes one"
    assert proxy["ports"] == [f"{Settings().port}:{Settings().port}"]
    assert api["environment"]["ROUTEUR_TRUST_FORWARDED_FOR"] == "true"


def test_scale_out_parts_are_switched_on_by_configuration_pointing_at_their_services(compose, monkeypatch):
    """The API's environment, with its secrets filled in, is a valid production configuration
    whose store, sessions and rate limits are the compose services."""
    environment = compose["services"]["api"]["environment"]
    values = {
        "ROUTEUR_JWT_SECRET": "Kq3v-Zr8_Tn1Lp6Wx2Hb9Yd4Mf7Gc0Js5Ue",
        "ROUTEUR_CLIENTS": json.dumps([{"id": "team-a", "secret": "s" * 20, "projects": ["proj-a"]}]),
        "QDRANT_API_KEY": "qdrant-key",
        "POSTGRES_PASSWORD": "pg-password",
    }
    for name in {m["name"] for v in environment.values() for m in REQUIRED.finditer(str(v))}:
        assert name in values, f"the test does not know the required variable {name}"
    for key, value in environment.items():
        monkeypatch.setenv(key, REQUIRED.sub(lambda m: values[m["name"]], str(value)))
    settings = Settings(_env_file=None)
    assert settings.environment == "production" and settings.production_problems() == []
    assert urlsplit(settings.qdrant_url).hostname == "qdrant"
    assert settings.qdrant_api_key.get_secret_value() == "qdrant-key"
    postgres = urlsplit(settings.postgres_url.get_secret_value())
    assert (postgres.scheme, postgres.hostname, postgres.password) == ("postgresql", "postgres", "pg-password")
    assert urlsplit(environment["ROUTEUR_REDIS_URL"]).hostname == "redis"
    assert settings.trust_forwarded_for is True and settings.trusted_proxies
    qdrant_env = compose["services"]["qdrant"]["environment"]
    assert qdrant_env["QDRANT__SERVICE__API_KEY"] == environment["ROUTEUR_QDRANT_API_KEY"]
    assert f":{compose['services']['postgres']['environment']['POSTGRES_PASSWORD']}@" in environment["ROUTEUR_POSTGRES_URL"]


def test_secrets_have_no_default_anywhere(compose, commands):
    api_env = compose["services"]["api"]["environment"]
    for key in ("ROUTEUR_JWT_SECRET", "ROUTEUR_CLIENTS"):
        assert REQUIRED.fullmatch(api_env[key]), f"{key} must be ${{{key}:?...}}, with no default"
    secret_like = re.compile(r"SECRET|PASSWORD|API_KEY|CLIENTS")
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret_like.search(key):
                assert REQUIRED.search(str(value)), f"{name}.{key} needs a required variable, not a value"
    assert not any(secret_like.search(key) for key in env_of(commands)), "the image bakes in no secret"


def test_every_routeur_name_is_a_real_setting(compose, commands):
    known = env_names(Settings)
    used = set(ROUTEUR_NAME.findall(COMPOSE.read_text(encoding="utf-8")))
    used |= set(ROUTEUR_NAME.findall(DOCKERFILE.read_text(encoding="utf-8")))
    assert used, "the deployment files configure the service through ROUTEUR_* settings"
    assert used - known - PENDING_SETTINGS == set()
    landed = PENDING_SETTINGS & known
    assert not landed, f"{landed} are real settings now: remove them from PENDING_SETTINGS"


def test_image_runs_the_project_python_with_cpu_torch_pinned_like_pyproject(commands):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    torch_pin = next(d for d in project["dependencies"] if d.replace(" ", "").startswith("torch=="))
    assert project["requires-python"].startswith(">=3.11")
    for command in commands:
        if command.cmd == "FROM":
            assert command.value[0] == "python:3.11-slim"
    runs = [c.value[0] for c in commands if c.cmd == "RUN"]
    torch_install = next(r for r in runs if "torch==" in r)
    assert torch_pin.replace(" ", "") in torch_install.split()
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_install
    assert runs.index(torch_install) < next(i for i, r in enumerate(runs) if "pip install \".[" in r), (
        "torch comes first, so the project install keeps the CPU wheel"
    )


def test_image_serves_as_a_non_root_user_with_data_on_a_volume(commands):
    stage = final_stage(commands)
    users = [c.value[0] for c in stage if c.cmd == "USER"]
    assert users and users[-1] not in {"root", "0"}
    cmd_index = next(i for i, c in enumerate(stage) if c.cmd == "CMD")
    assert max(i for i, c in enumerate(stage) if c.cmd == "USER") < cmd_index
    assert stage[cmd_index].json and list(stage[cmd_index].value) == ["routeur", "serve", "--host", "0.0.0.0"]
    data_dir = env_of(stage)["ROUTEUR_DATA_DIR"]
    assert any(c.cmd == "VOLUME" and data_dir in c.value for c in stage)
    assert [c.value[0] for c in stage if c.cmd == "EXPOSE"] == [str(Settings().port)]


def test_dockerignore_keeps_secrets_and_local_state_out_but_not_what_the_image_copies(commands):
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {".env", "data", ".git", ".venv"} <= ignored
    copied = {source for c in commands if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags) for source in c.value[:-1]}
    assert copied and not copied & ignored
    assert all((ROOT / source).exists() for source in copied)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _healthcheck_exit_code(command: list[str], port: int) -> int:
    env = {"ROUTEUR_PORT": str(port), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run([sys.executable, *command[1:]], env=env, timeout=30).returncode


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_healthcheck_command_asks_health_on_the_configured_port(commands, status, healthy):
    healthcheck = next(c for c in final_stage(commands) if c.cmd == "HEALTHCHECK")
    assert healthcheck.json and healthcheck.value[0] == "CMD" and healthcheck.value[1] == "python"
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code = _healthcheck_exit_code(list(healthcheck.value[1:]), server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
    assert (code == 0) is healthy


def test_healthcheck_fails_when_nothing_listens(commands):
    healthcheck = next(c for c in final_stage(commands) if c.cmd == "HEALTHCHECK")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    assert _healthcheck_exit_code(list(healthcheck.value[1:]), free_port) != 0


def test_proxy_configuration_is_valid_caddy_balancing_over_the_api_service(compose):
    caddy = shutil.which("caddy")
    assert caddy, "caddy is installed by .ci/run (apt package caddy)"
    result = subprocess.run(
        [caddy, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile", "--validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.splitlines()[0])
    (server,) = config["apps"]["http"]["servers"].values()
    assert server["listen"] == [f":{Settings().port}"]
    (proxy,) = [h for route in server["routes"] for h in route["handle"] if h["handler"] == "reverse_proxy"]
    assert proxy["dynamic_upstreams"]["name"] == "api" and proxy["dynamic_upstreams"]["port"] == str(Settings().port)
    assert proxy["flush_interval"] == -1, "SSE must not be buffered"
    mount = f"./{CADDYFILE.relative_to(ROOT)}:/etc/caddy/Caddyfile:ro"
    assert mount in compose["services"]["proxy"]["volumes"]


def test_readme_env_snippet_gives_every_secret_compose_requires(compose, tmp_path, monkeypatch):
    """The Deploy section's ``.env`` snippet, run as written, satisfies compose and production mode."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    deploy = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    block = next(b for b in re.findall(r"```bash\n(.*?)```", deploy, flags=re.S) if "cat > .env" in b)
    snippet = block[: block.index("\nEOF\n") + len("\nEOF\n")]
    subprocess.run(["bash", "-euc", snippet], cwd=tmp_path, check=True, timeout=60)
    dotenv = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    required = {m["name"] for m in REQUIRED.finditer(COMPOSE.read_text(encoding="utf-8"))}
    assert required <= set(dotenv)
    for name in env_names(Settings):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROUTEUR_ENVIRONMENT", "production")
    settings = Settings(_env_file=tmp_path / ".env")
    assert settings.production_problems() == [] and settings.clients
