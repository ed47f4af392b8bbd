"""A database URL for every command: ``DATABASE_URL``, or a local cluster we start ourselves.

With no ``DATABASE_URL``, ``embedded_database()`` runs ``initdb`` (first use) and ``pg_ctl start``
on a data directory, with the machine's PostgreSQL binaries (``$BALLOT_PG_BIN``, ``pg_ctl`` on
``PATH``, or Debian's ``/usr/lib/postgresql/<version>/bin``) or, failing those, the binaries of
the ``pgserver`` wheel. PostgreSQL refuses to run as root, so as root the cluster runs as the
``postgres`` system user (created as ``ballotpg`` when the machine has none). The server listens
on 127.0.0.1 at a free port, and ``stop()`` stops it only if this process started it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path("var/postgres")
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
"""For throwaway test clusters only: durability off."""


class EmbeddedPostgresError(RuntimeError):
    """The local PostgreSQL cluster could not be started."""


def find_bin_dir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are, in order of preference."""
    override = os.environ.get("BALLOT_PG_BIN")
    if override:
        return Path(override)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel / "pg_ctl").exists():
            return wheel
    raise EmbeddedPostgresError(
        "no PostgreSQL binaries found: install the pgserver wheel (pip install pgserver), "
        "a PostgreSQL server package, or set DATABASE_URL"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The system user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "ballotpg"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        [
            "/usr/sbin/useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "ballotpg",
        ],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam("ballotpg")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running_port(data_dir: Path) -> int | None:
    """The port of a live postmaster on ``data_dir``, if one runs."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return port


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    settings: dict[str, str] = field(default_factory=dict)
    bin_dir: Path = field(default_factory=find_bin_dir)
    port: int = 0
    started_here: bool = False

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, args: list[str], user: pwd.struct_passwd | None) -> None:
        env = dict(os.environ, LC_ALL="C", HOME=str(self.data_dir))
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.data_dir,
            check=False,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
        )
        if proc.returncode != 0:
            log_file = self.data_dir / "server.log"
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()}\n{tail}"
            )

    def start(self) -> EmbeddedPostgres:
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = _running_port(self.data_dir)
        if running is not None:
            self.port = running
            log.info("embedded_postgres_reused", data_dir=str(self.data_dir), port=running)
            return self
        user = _run_as()
        if user is not None:
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            self.data_dir.chmod(0o700)
            # The postgres user must be able to reach the data directory.
            for parent in self.data_dir.parents:
                if parent.stat().st_mode & 0o001 == 0:
                    parent.chmod(parent.stat().st_mode | 0o011)
        if not (self.data_dir / "PG_VERSION").exists():
            self._cmd(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--auth=trust",
                    "--no-instructions",
                ],
                user,
            )
        self.port = free_port()
        options = [f"-p {self.port}", "-c listen_addresses=127.0.0.1", f"-k {self.data_dir}"]
        options += [f"-c {k}={v}" for k, v in self.settings.items()]
        self._cmd(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                "start",
            ],
            user,
        )
        self.started_here = True
        log.info("embedded_postgres_started", data_dir=str(self.data_dir), port=self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        if not self.started_here:
            return
        self._cmd(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"],
            _run_as(),
        )
        self.started_here = False
        log.info("embedded_postgres_stopped", data_dir=str(self.data_dir))


@contextlib.contextmanager
def embedded_cluster(
    data_dir: Path | None = None, settings: dict[str, str] | None = None
) -> Iterator[EmbeddedPostgres]:
    """Start (or reuse) a local cluster; stop it on exit if we started it."""
    cluster = EmbeddedPostgres(data_dir=data_dir or DEFAULT_DATA_DIR, settings=settings or {})
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def database_url(data_dir: Path | None = None, database: str = "postgres") -> Iterator[str]:
    """``DATABASE_URL`` when set; otherwise the URL of an embedded cluster for the duration."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    with embedded_cluster(data_dir) as cluster:
        yield cluster.url(database)


@contextlib.contextmanager
def throwaway_cluster(prefix: str, settings: dict[str, str]) -> Iterator[str]:
    """An admin URL: ``DATABASE_URL`` when set, or a fresh cluster in a new temporary
    directory (readable by the ``postgres`` user), stopped at once and removed on exit."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)
    cluster = EmbeddedPostgres(data_dir=root / "data", settings=dict(settings))
    cluster.start()
    try:
        yield cluster.admin_url
    finally:
        cluster.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)
