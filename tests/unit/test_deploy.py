"""deploy/: the compose file, the image, the systemd units, the helper scripts and the
configuration reference, checked without a container engine (DESIGN §10)."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from booth.runtime.settings import Settings as BoothSettings
from counter.runtime.settings import Settings as CounterSettings
from ledger.format.keys import Signer, Verifier
from ledger.runtime.settings import Settings as LedgerSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("ledger", "counter")
# Names that hold a secret: such a variable may only name a file, never carry the value.
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|PRIVATE", re.IGNORECASE)
SECRET_TEXT = re.compile(r"PRIVATE\+KEY\+|\b[0-9a-f]{32,}\b|://[^/\s:@]+:[^/\s@]+@")


# --- compose -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (the test extra)")
    doc: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return doc


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _mounted(service: dict[str, Any]) -> set[str]:
    """Paths of the secrets and configs mounted into a service."""
    paths = set()
    for s in service.get("secrets", []):
        name = s if isinstance(s, str) else s["source"]
        target = name if isinstance(s, str) else s.get("target", name)
        paths.add(target if target.startswith("/") else f"/run/secrets/{target}")
    for c in service.get("configs", []):
        paths.add(c["target"] if isinstance(c, dict) else f"/{c}")
    return paths


def test_compose_has_the_three_services(compose: dict[str, Any]) -> None:
    """Compose runs PostgreSQL, the ledger and the counter."""
    assert set(compose["services"]) == {"postgres", *SERVICES}


def test_compose_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    """Every service declares a health check that runs a command."""
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name


def test_compose_secrets_are_operator_files(compose: dict[str, Any]) -> None:
    """Every secret is a file under deploy/secrets/, not an inline or environment value."""
    assert compose["secrets"]
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, name
        assert secret["file"].startswith("./secrets/"), name
    for name, config in compose.get("configs", {}).items():
        assert config["file"].endswith(".pub"), f"config {name} must hold public keys only"


def test_compose_has_no_plain_secrets(compose: dict[str, Any]) -> None:
    """No password, token or key is written in the compose file: variables only name files."""
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            assert not SECRET_TEXT.search(value), (name, key)
            if SECRET_NAME.search(key):
                assert key.startswith("FILE__") or key.endswith("_FILE"), (name, key)
                assert value.startswith("/run/secrets/"), (name, key)
    assert not SECRET_TEXT.search((DEPLOY / "compose.yaml").read_text())


def test_compose_secret_variables_name_mounted_files(compose: dict[str, Any]) -> None:
    """Every FILE__/_FILE variable names a secret or config mounted into that service."""
    for name, service in compose["services"].items():
        mounted = _mounted(service)
        for key, value in _environment(service).items():
            if key.startswith("FILE__") or key.endswith("_FILE"):
                assert value in mounted, (name, key, value)


def test_compose_services_run_as_non_root(compose: dict[str, Any]) -> None:
    """The ledger and the counter run as the image's fixed non-root uid, hardened."""
    for name in SERVICES:
        service = compose["services"][name]
        uid = str(service.get("user", "")).split(":")[0]
        assert uid.isdigit() and int(uid) != 0, name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert service["entrypoint"] == ["with-secrets", "ballot"], name


def test_compose_start_order_waits_for_health(compose: dict[str, Any]) -> None:
    """The ledger waits for a healthy database; the counter for the database and ledger."""
    services = compose["services"]
    assert services["ledger"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["counter"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "ledger": {"condition": "service_healthy"},
    }


def test_compose_postgres_uses_secret_files_and_init_script(compose: dict[str, Any]) -> None:
    """PostgreSQL takes its password from a file and runs deploy/postgres/init.sql once."""
    pg = compose["services"]["postgres"]
    env = _environment(pg)
    assert "POSTGRES_PASSWORD" not in env
    assert env["POSTGRES_PASSWORD_FILE"] in _mounted(pg)
    assert "pg_isready" in pg["healthcheck"]["test"]
    assert any(v.startswith("pgdata:") for v in pg["volumes"])
    init = [v for v in pg["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert init and (DEPLOY / init[0].split(":")[0]).resolve() == DEPLOY / "postgres/init.sql"
    sql = (DEPLOY / "postgres/init.sql").read_text()
    for path in re.findall(r"/run/secrets/(\w+)", sql):
        assert path in pg["secrets"], path
    assert "GRANT ballot_service TO ballot_ledger" in sql


def test_compose_secret_files_are_the_ones_make_secrets_creates(
    compose: dict[str, Any], made_secrets: Path
) -> None:
    """deploy/make-secrets.sh creates exactly the files compose mounts."""
    wanted = {Path(s["file"]).name for s in compose["secrets"].values()}
    wanted |= {Path(c["file"]).name for c in compose["configs"].values()}
    assert wanted == {p.name for p in made_secrets.iterdir()}


def _compose_command() -> list[str] | None:
    if exe := shutil.which("docker-compose"):
        return [exe]
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    return None


def test_compose_file_is_valid_for_docker_compose() -> None:
    """`docker compose config` accepts the file (schema, interpolation); it needs the origin."""
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed")
    # --env-file: ignore an operator's deploy/.env, so the test sees the file alone.
    config = [*command, "--env-file", os.devnull, "-f", str(DEPLOY / "compose.yaml"), "config"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALLOT_")}

    def run(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*config, "--quiet"], capture_output=True, text=True, env={**env, **extra}, check=False
        )

    accepted = run({"BALLOT_ORIGIN_PREFIX": "ballot.example.org"})
    assert accepted.returncode == 0, accepted.stderr
    refused = run({})
    assert refused.returncode != 0 and "BALLOT_ORIGIN_PREFIX" in refused.stderr


# --- image -------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    lines = _dockerfile()
    last = max(i for i, (word, _) in enumerate(lines) if word == "FROM")
    return lines[last:]


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    """A builder stage makes the wheel; the runtime stage is python:3.11-slim."""
    lines = _dockerfile()
    froms = [rest for word, rest in lines if word == "FROM"]
    assert len(froms) >= 2 and all(re.search(r"\sAS\s+\w+", f, re.IGNORECASE) for f in froms)
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in lines
    assert any(w == "RUN" and "pip wheel" in r for w, r in lines)
    assert any(w == "RUN" and "from=builder" in r and "--no-index" in r for w, r in _final_stage())


def test_dockerfile_runs_as_fixed_non_root_user() -> None:
    """The runtime stage ends as a fixed numeric, non-root uid."""
    users = [rest for word, rest in _final_stage() if word == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_dockerfile_healthcheck_entrypoint_and_bind_address() -> None:
    """HEALTHCHECK uses the urllib script, `ballot ledger serve` is the default, on 0.0.0.0."""
    final = dict(_final_stage())
    assert "healthcheck.py" in final["HEALTHCHECK"] and "curl" not in final["HEALTHCHECK"]
    assert final["ENTRYPOINT"] == '["ballot"]'
    assert final["CMD"] == '["ledger", "serve"]'
    env = " ".join(rest for word, rest in _final_stage() if word == "ENV")
    assert "BALLOT_HOST=0.0.0.0" in env and "BALLOT_COUNTER_HOST=0.0.0.0" in env


def test_dockerfile_bakes_in_no_secret() -> None:
    """No secret-looking ENV or ARG, and the build context excludes deploy/secrets/."""
    for word, rest in _dockerfile():
        if word in ("ENV", "ARG"):
            for name in re.findall(r"(\w+)=", rest):
                assert not SECRET_NAME.search(name), name
        if word in ("COPY", "ADD"):
            assert not re.search(r"(^|[\s/])secrets(/|\s|$)", rest), rest
    assert not SECRET_TEXT.search((DEPLOY / "Dockerfile").read_text())
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("**") :][0] == "**"
    allowed = [p for p in ignore if p.startswith("!")]
    assert not any(re.search(r"(^!|/)(secrets(/|$)|\.env$)", p) for p in allowed), allowed


def test_package_data_ships_every_resource_file() -> None:
    """Every SQL, template and schema file is in the wheel the image installs."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = []
    for package in ("ledger", "counter", "ballot", "schemas"):
        base = ROOT / package
        for path in base.rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(base)
            if not any(rel.match(glob) for glob in package_data.get(package, [])):
                missing.append(f"{package}/{rel}")
    assert not missing, f"add to [tool.setuptools.package-data]: {missing}"


# --- systemd -----------------------------------------------------------------------------------

UNITS = ("ballot-ledger.service", "ballot-counter.service")


def _directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_unit_is_hardened(unit: str) -> None:
    """Each unit runs as `ballot`, restarts on failure, and is sandboxed."""
    d = _directives(unit)
    expected = {
        "User": "ballot",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], (unit, key)
    assert d["Type"][0] in ("simple", "exec")
    assert d["EnvironmentFile"][0].startswith("/etc/ballot-ledger/")
    assert d["ReadWritePaths"] and d["TimeoutStopSec"]
    assert any("key" in c for c in d["LoadCredential"])
    for value in d.get("Environment", []):
        name = value.partition("=")[0]
        if SECRET_NAME.search(name):
            assert name.startswith("FILE__") and "%d/" in value, value
    assert not SECRET_TEXT.search((DEPLOY / "systemd" / unit).read_text())


def test_systemd_units_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts both units with no warning."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("with-secrets", "ballot"):  # ExecStart must name executables that exist
        exe = bin_dir / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    paths = []
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "/opt/ballot-ledger/bin/" in text
        copy = tmp_path / unit
        copy.write_text(text.replace("/opt/ballot-ledger/bin/", f"{bin_dir}/"))
        paths.append(str(copy))
    result = subprocess.run(
        [analyze, "verify", *paths], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# --- scripts -----------------------------------------------------------------------------------


def _run_with_secrets(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(
        ["/bin/sh", str(DEPLOY / "with-secrets.sh"), *command],
        capture_output=True,
        text=True,
        env={**base, **env},
        check=False,
    )


def test_with_secrets_loads_files_into_variables(tmp_path: Path) -> None:
    """FILE__NAME=PATH sets NAME from the file (lines joined by commas) and is removed."""
    (tmp_path / "tokens").write_text("aaa\n\nbbb\n")
    (tmp_path / "password").write_text("s3cret")
    result = _run_with_secrets(
        {
            "FILE__BALLOT_ADMIN_TOKENS": str(tmp_path / "tokens"),
            "FILE__PGPASSWORD": str(tmp_path / "password"),
        },
        "sh",
        "-c",
        'printf "%s|%s|%s" "$BALLOT_ADMIN_TOKENS" "$PGPASSWORD" "${FILE__PGPASSWORD-unset}"',
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "aaa,bbb|s3cret|unset"
    assert "s3cret" not in result.stderr and "aaa" not in result.stderr


@pytest.mark.parametrize(("content", "code"), [(None, 66), ("", 65), ("\n\n", 65)])
def test_with_secrets_refuses_missing_or_empty_files(
    tmp_path: Path, content: str | None, code: int
) -> None:
    """A missing or empty secret file stops the service before it starts."""
    path = tmp_path / "secret"
    if content is not None:
        path.write_text(content)
    result = _run_with_secrets({"FILE__PGPASSWORD": str(path)}, "true")
    assert result.returncode == code
    assert "PGPASSWORD" in result.stderr


def _make_secrets(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(DEPLOY / "make-secrets.sh"), "ballot.example.org", str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        check=False,
    )


@pytest.fixture(scope="module")
def made_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    target = tmp_path_factory.mktemp("deploy") / "secrets"
    run = _make_secrets(target)
    assert run.returncode == 0, run.stderr
    return target


def test_make_secrets_creates_every_secret(made_secrets: Path) -> None:
    """make-secrets.sh writes fresh, parseable keys and tokens, 0444 in a 0700 directory."""
    assert stat.S_IMODE(made_secrets.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in made_secrets.iterdir())
    ledger = Signer.parse((made_secrets / "ledger.key").read_text())
    assert ledger.name.startswith("ballot.example.org/ledger-")
    assert Verifier.parse((made_secrets / "ledger.pub").read_text()) == ledger.verifier
    counter = Signer.parse((made_secrets / "counter.key").read_text())
    assert Verifier.parse((made_secrets / "counter.pub").read_text()) == counter.verifier
    assert ledger.seed != counter.seed
    for name in ("postgres_password", "ledger_db_password", "counter_db_password"):
        assert re.fullmatch(r"[0-9a-f]{64}\n", (made_secrets / name).read_text()), name
    token = (made_secrets / "counter_token").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert (made_secrets / "ledger_counter_tokens").read_text().strip() == f"{token}=*"
    assert re.fullmatch(r"[0-9a-f]{64}=\*\n", (made_secrets / "frontend_tokens").read_text())


def test_make_secrets_never_overwrites(made_secrets: Path) -> None:
    """A second run keeps every existing secret file as it was."""
    before = {p.name: p.read_text() for p in made_secrets.iterdir()}
    again = _make_secrets(made_secrets)
    assert again.returncode == 0 and "kept" in again.stderr
    assert {p.name: p.read_text() for p in made_secrets.iterdir()} == before


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_healthcheck_exit_codes(health_server: str) -> None:
    """The health check exits 0 on a 2xx answer, 1 on an error status or no answer."""
    script = str(DEPLOY / "healthcheck.py")

    def run(url: str) -> int:
        return subprocess.run([sys.executable, script, url], capture_output=True).returncode

    assert run(f"{health_server}/healthz") == 0
    assert run(f"{health_server}/readyz") == 1
    with HTTPServer(("127.0.0.1", 0), _Health) as closed:
        port = closed.server_address[1]
    assert run(f"http://127.0.0.1:{port}/healthz") == 1
    assert run("file:///etc/passwd") == 1


def test_healthcheck_picks_the_service_port(tmp_path: Path) -> None:
    """With no URL, the check targets the counter's port when PID 1 is `counter serve`."""
    module = _load_healthcheck()
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/usr/local/bin/python\0/usr/local/bin/ballot\0counter\0serve\0")
    assert module.runs_counter(cmdline)
    cmdline.write_bytes(b"/usr/local/bin/python\0/usr/local/bin/ballot\0ledger\0serve\0")
    assert not module.runs_counter(cmdline)
    assert not module.runs_counter(tmp_path / "missing")


# --- configuration reference -------------------------------------------------------------------


def _reference_rows() -> dict[str, list[str]]:
    """Rows of docs/configuration.md's tables, by the environment variable in the first cell."""
    rows = {}
    for line in (ROOT / "docs/configuration.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and (m := re.fullmatch(r"`(BALLOT_\w+)`", cells[0])):
            rows[m.group(1)] = cells
    return rows


def _default_text(field: dataclasses.Field[Any]) -> str | None:
    """The default as the reference writes it, for scalar defaults."""
    if field.default is dataclasses.MISSING or field.default is None:
        return None
    if isinstance(field.default, str | int | float | Path) and not isinstance(field.default, bool):
        return f"`{field.default}`"
    return None


@pytest.mark.parametrize(
    ("settings", "prefix"),
    [
        (LedgerSettings, "BALLOT_"),
        (CounterSettings, "BALLOT_COUNTER_"),
        (BoothSettings, "BALLOT_BOOTH_"),
    ],
)
def test_configuration_reference_lists_every_setting(settings: type, prefix: str) -> None:
    """docs/configuration.md has a row per setting, with the code's default."""
    rows = _reference_rows()
    for field in dataclasses.fields(settings):
        env = prefix + field.name.upper()
        assert env in rows, f"{env} is missing from docs/configuration.md"
        default = _default_text(field)
        if default is not None:
            assert rows[env][2] == default, (env, rows[env][2], default)


def test_compose_metrics_listen_privately_and_are_never_published(compose: dict[str, Any]) -> None:
    """The metrics listeners are on their own ports, on the internal network ``metrics`` only:
    the published ports are the public APIs', never the metrics'."""
    assert compose["networks"]["metrics"] == {"internal": True}
    for name, prefix, api in (
        ("ledger", "BALLOT_", "8080"),
        ("counter", "BALLOT_COUNTER_", "8090"),
    ):
        service = compose["services"][name]
        port = _environment(service)[prefix + "METRICS_PORT"]
        assert port != api
        assert "metrics" in service["networks"]
        published = [str(p) for p in service.get("ports", [])]
        assert published == [f"127.0.0.1:{api}:{api}"], (name, published)
