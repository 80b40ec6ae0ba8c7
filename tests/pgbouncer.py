"""A real PgBouncer in transaction mode in front of the test Postgres, like Supabase's pooler on port 6543.

Debian's pgbouncer package (installed by .ci/run); where it is missing, `start` returns None.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse


class Bouncer:
    """A running PgBouncer, started again on the same port if it has died.

    Debian 12's PgBouncer 1.18 aborts now and then on a cancel request racing a closing client
    ("FATAL ... disconnect_client(): bad client state"), which asyncpg sends when a query is cancelled; the
    tests that come after it must not fail for that.
    """

    def __init__(self, binary: str, config: Path, port: int) -> None:
        self.binary, self.config, self.port = binary, config, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres?pgbouncer=true"
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> bool:
        """Whether PgBouncer answers on its port, starting it when it is not running."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [self.binary, str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def start(dsn: str, workdir: Path) -> Bouncer | None:
    """Start PgBouncer for the embedded server behind `dsn`, or None where it is not installed or will not start."""
    binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if binary is None:
        return None
    socket_dir = parse_qs(urlparse(dsn).query)["host"][0]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    users = workdir / "users.txt"
    users.write_text('"postgres" ""\n')
    config = workdir / "pgbouncer.ini"
    lines = [
        "[databases]",
        f"* = host={socket_dir} port=5432",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {users}",
        "pool_mode = transaction",
        "default_pool_size = 4",
        f"logfile = {workdir / 'pgbouncer.log'}",
    ]
    if os.geteuid() == 0:  # PgBouncer will not run as root; the embedded server's own user will do
        lines.append("user = embedded_postgres")
        shutil.chown(workdir, "embedded_postgres")
        for path in (users, config):
            path.touch()
            shutil.chown(path, "embedded_postgres")
    config.write_text("\n".join(lines) + "\n")
    bouncer = Bouncer(binary, config, port)
    if bouncer.ensure():
        return bouncer
    bouncer.stop()
    return None
