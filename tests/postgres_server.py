"""Find a PostgreSQL server for the test run, or start a throwaway one.

Order: CONVEYOR_TEST_POSTGRES_URL (a server URL whose user may CREATE DATABASE), else a server on
localhost (socket, then 127.0.0.1:5432, as postgres or the current user), else a throwaway
cluster from the local PostgreSQL binaries (initdb + pg_ctl, as pytest-postgresql does), else
fail with what to install. Each test run then creates its own database on that server.
"""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg

INSTALL_HELP = (
    "No PostgreSQL server found for the tests, and no PostgreSQL binaries to start one.\n"
    "Either point the tests at a server:  export CONVEYOR_TEST_POSTGRES_URL=postgresql://user@host:5432/postgres\n"
    "or install PostgreSQL locally:      sudo apt-get install postgresql   (Debian/Ubuntu)\n"
    "                                    brew install postgresql@16         (macOS)"
)


@dataclass
class PostgresServer:
    admin_url: str  # connects to an existing maintenance database on the server
    cluster_dir: str | None = None  # set when we started a throwaway cluster
    databases: list[str] = field(default_factory=list)
    pg_ctl_start: list[str] = field(default_factory=list)  # a throwaway cluster: the command that starts it

    def stop_server(self) -> None:
        """A throwaway cluster only: shut it down (fast: sessions are ended, as in a restart)."""
        assert self.cluster_dir and self.pg_ctl_start, "only a throwaway cluster may be stopped"
        subprocess.run([*self._run_as(), _find_binary("pg_ctl") or "pg_ctl", "-D", self.cluster_dir, "-m", "fast", "-w",
                        "stop"], check=True, capture_output=True)

    def _run_as(self) -> list[str]:
        """The prefix that runs pg_ctl as the cluster's owner (root may not)."""
        return self.pg_ctl_start[: self.pg_ctl_start.index("-D") - 1] if self.pg_ctl_start else []

    def start_server(self) -> None:
        """A throwaway cluster only: start it again, and wait until it accepts connections."""
        assert self.cluster_dir and self.pg_ctl_start, "only a throwaway cluster may be started"
        subprocess.run(self.pg_ctl_start, check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while not _can_connect(self.admin_url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"throwaway PostgreSQL in {self.cluster_dir} did not come back")
            time.sleep(0.1)

    def url_for(self, dbname: str) -> str:
        parts = urlsplit(self.admin_url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))

    def create_database(self, prefix: str = "conveyor_test") -> str:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url_for(name)

    def drop_databases(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in self.databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.clear()

    def stop(self) -> None:
        if self.cluster_dir:
            pg_ctl = _find_binary("pg_ctl")
            if pg_ctl:
                subprocess.run([*self._run_as(), pg_ctl, "-D", self.cluster_dir, "-m", "immediate", "stop"],
                               capture_output=True, check=False)
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


def _can_connect(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) + sorted(
        glob.glob(f"/usr/local/opt/postgresql*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_throwaway_cluster(listen: tuple[str, ...] = ("127.0.0.1",), trust: tuple[str, ...] = ()) -> PostgresServer | None:
    """A new cluster from the local binaries, listening on `listen` (127.0.0.1 first), trusting
    connections from the `trust` networks too (CIDR)."""
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        return None
    folder = tempfile.mkdtemp(prefix="conveyor-pg-")
    data = os.path.join(folder, "data")
    user = "postgres"
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use an unprivileged account
        os.chmod(folder, 0o777)
        run_as = ["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else []
    subprocess.run([*run_as, initdb, "-D", data, "-U", user, "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)
    if trust:
        with open(os.path.join(data, "pg_hba.conf"), "a") as hba:
            hba.writelines(f"host all all {network} trust\n" for network in trust)
    port = _free_port()
    start = [*run_as, pg_ctl, "-D", data, "-w", "-l", os.path.join(folder, "log"), "-o",
             f"-p {port} -k {folder} -c listen_addresses={','.join(listen)} -c fsync=off -c max_connections=200",
             "start"]
    subprocess.run(start, check=True, capture_output=True)
    server = PostgresServer(f"postgresql://{user}@127.0.0.1:{port}/postgres", cluster_dir=data, pg_ctl_start=start)
    deadline = time.monotonic() + 30
    while not _can_connect(server.admin_url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"throwaway PostgreSQL in {data} did not start; see {folder}/log")
        time.sleep(0.2)
    return server


def find_server() -> PostgresServer:
    explicit = os.environ.get("CONVEYOR_TEST_POSTGRES_URL")
    if explicit:
        if not _can_connect(explicit):
            raise RuntimeError(f"CONVEYOR_TEST_POSTGRES_URL={explicit} cannot be reached")
        return PostgresServer(explicit)
    users = ["postgres", getpass.getuser()]
    for user in users:
        for url in (f"postgresql://{user}@/postgres", f"postgresql://{user}@127.0.0.1:5432/postgres"):
            if _can_connect(url):
                return PostgresServer(url)
    server = start_throwaway_cluster()
    if server is None:
        raise RuntimeError(INSTALL_HELP)
    return server
