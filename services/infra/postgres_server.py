"""PostgreSQL on loopback: a server already answering, or a cluster of our own in the state
directory (installing Debian's package when there is none). As root, the cluster runs as the
postgres user; when that user cannot reach the state directory (a clone in a mode-700 home), the
cluster lives under /var/lib/casetrail instead."""

import asyncio
import contextlib
import glob
import hashlib
import os
import shutil
import signal
import stat
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from projections.db import connect
from services.adapters.case_store import ensure_case_store
from services.infra.servers import InfraError, LocalServer, answers, run
from services.privacy.cipher import MasterKeyError
from services.privacy.keystore import ensure_keystore
from services.progress import Say
from services.settings import Settings, with_database

SHARED_CLUSTERS = Path("/var/lib/casetrail")


def cluster_dir(state_dir: Path) -> Path:
    """Where our own cluster lives: in the state directory, unless we run as root and the
    postgres user (whom PostgreSQL runs as) cannot reach it, as in a clone inside a mode-700
    home; then in a directory of its own under ``SHARED_CLUSTERS``, named after the state
    directory's path and a random id kept in it. The id, not the path alone: a clone removed
    and cloned again at the same path must not find the old clone's databases (their personal
    data keys are wrapped by a master key that went with the old clone)."""
    own = (state_dir / "postgres").resolve()
    if os.geteuid() != 0 or _searchable_by_others(own.parent):
        return own
    named = hashlib.sha256(f"{own}\n{_state_id(state_dir)}".encode()).hexdigest()[:16]
    return SHARED_CLUSTERS / named / "postgres"


def _state_id(state_dir: Path) -> str:
    """The state directory's random id, made on first use."""
    path = state_dir / "postgres-cluster-id"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x") as made:  # two processes at once: the first one's id holds
                made.write(uuid.uuid4().hex + "\n")
        except FileExistsError:
            pass
    return path.read_text().strip()


def _searchable_by_others(path: Path) -> bool:
    """Every existing directory from ``path`` up to / lets other users through (o+x)."""
    return all(
        directory.stat().st_mode & stat.S_IXOTH
        for directory in (path, *path.parents)
        if directory.exists()
    )


class LocalPostgres(LocalServer):
    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown

    def __init__(self, settings: Settings):
        self.settings = settings
        url = urlsplit(settings.postgres_dsn)
        self.user, self.password = url.username or "casetrail", url.password or "casetrail"
        self.database = url.path.lstrip("/") or "casetrail"
        self.dir = cluster_dir(settings.state_dir)
        self.data = self.dir / "data"
        host, port = url.hostname or "127.0.0.1", url.port or 5432
        super().__init__(host, port, self.dir / "postgres.pid", str(self.data))

    def up(self, say: Say) -> None:
        if answers(self.host, self.port):
            say(f"postgres: already answering on {self.host}:{self.port}")
        else:
            bin_dir = self._binaries(say)
            if answers(self.host, self.port):  # installing the package may start a cluster
                say(f"postgres: the installed package's server answers on port {self.port}")
            else:
                self._start_own_cluster(bin_dir, say)
        asyncio.run(self.ensure_database(say))

    def _binaries(self, say: Say) -> Path:
        def find() -> Path | None:
            on_path = shutil.which("pg_ctl")
            if on_path:
                return Path(on_path).resolve().parent
            found = sorted(
                glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                key=lambda p: int(Path(p).parts[-3]),
            )
            return Path(found[-1]).parent if found else None

        bin_dir = find()
        if bin_dir is None:
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise InfraError(
                    "PostgreSQL is not installed: install it (e.g. apt-get install postgresql) "
                    "or point CASETRAIL_POSTGRES_DSN at a running server"
                )
            say("postgres: installing Debian's postgresql package")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            run(["apt-get", "update", "-q"], "apt-get update", env=env)
            run(["apt-get", "install", "-y", "-q", "postgresql"], "installing postgresql", env=env)
            bin_dir = find()
            if bin_dir is None:
                raise InfraError("postgresql was installed but pg_ctl was not found")
        return bin_dir

    def _as_owner(self, cmd: list[str]) -> list[str]:
        """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _start_own_cluster(self, bin_dir: Path, say: Say) -> None:
        sockets = self.dir / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        if self.dir.is_relative_to(SHARED_CLUSTERS):
            # Created by us, as root: whatever the umask, the postgres user must get through.
            for directory in (SHARED_CLUSTERS, self.dir.parent):
                directory.chmod(0o755)
            say(f"postgres: the state directory is out of the postgres user's reach: {self.dir}")
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(sockets, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            say(f"postgres: creating a cluster in {self.data}")
            password_file = self.dir / "password"
            password_file.write_text(self.password + "\n")
            password_file.chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(password_file, "postgres", "postgres")
            try:
                run(
                    self._as_owner(
                        [
                            str(bin_dir / "initdb"),
                            "-D",
                            str(self.data),
                            "-U",
                            self.user,
                            f"--pwfile={password_file}",
                            "--auth-host=scram-sha-256",
                            "--auth-local=peer",
                            "-E",
                            "UTF8",
                            "--locale=C.UTF-8",
                        ]
                    ),
                    "initdb",
                )
            finally:
                password_file.unlink(missing_ok=True)
        options = f"-c listen_addresses={self.host} -p {self.port} -k {sockets}"
        run(
            self._as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "postgres.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "starting postgres",
        )
        pid = (self.data / "postmaster.pid").read_text().split()[0]
        self.pid_file.write_text(f"{pid}\n")
        say(f"postgres: started pid {pid} on {self.host}:{self.port}")

    async def ensure_database(self, say: Say, may_create_role: bool = True) -> None:
        """The database, and the key store and the decider's case store in it (their roles,
        schemas and tables)."""
        await self._ensure_database(say, may_create_role)
        try:
            say(await ensure_keystore(self.settings))
            say(await ensure_case_store(self.settings))
        except (asyncpg.PostgresError, OSError, MasterKeyError) as error:
            raise InfraError(f"cannot set up the key store or case store: {error}") from error

    async def _ensure_database(self, say: Say, may_create_role: bool = True) -> None:
        try:
            async with connect(self.settings.postgres_dsn):
                say(f"postgres: database {self.database} ready")
        except asyncpg.InvalidCatalogNameError:
            try:
                async with connect(with_database(self.settings.postgres_dsn, "postgres")) as admin:
                    with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                        await admin.execute(f'CREATE DATABASE "{self.database}"')
            except (asyncpg.PostgresError, OSError) as error:
                raise InfraError(f"cannot create database {self.database}: {error}") from error
            say(f"postgres: created database {self.database}")
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            if not may_create_role:
                raise
            self._create_role_as_superuser(say)
            await self._ensure_database(say, may_create_role=False)

    def _create_role_as_superuser(self, say: Say) -> None:
        """A server we did not start and whose role we lack: create the role through the local
        superuser (peer authentication), where this machine allows it."""
        if os.geteuid() != 0 or shutil.which("psql") is None:
            raise InfraError(
                f"cannot log in to PostgreSQL on {self.host}:{self.port} as {self.user}: set "
                "CASETRAIL_POSTGRES_DSN to a role that may create the casetrail database"
            )
        quoted = self.password.replace("'", "''")
        sql = (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{self.user}') "
            f"THEN CREATE ROLE \"{self.user}\" LOGIN CREATEDB PASSWORD '{quoted}'; END IF; END $$;"
        )
        run(
            ["runuser", "-u", "postgres", "--", "psql", "-p", str(self.port), "-c", sql],
            "creating the casetrail role",
        )
        say(f"postgres: created role {self.user}")
