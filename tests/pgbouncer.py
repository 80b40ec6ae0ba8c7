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


def start(dsn: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start PgBouncer for the embedded server behind `dsn`; return the process and a DSN through it."""
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
    proc = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"postgresql://postgres@127.0.0.1:{port}/postgres?pgbouncer=true"
        time.sleep(0.05)
    proc.kill()
    return None
