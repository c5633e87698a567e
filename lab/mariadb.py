"""Real MariaDB servers for the lab: a fresh datadir, started in a network namespace, stopped bounded.

The user database ProxySQL fronts (a production Galera cluster stands outside
the mail cluster; the lab runs one server in its client namespace), and the
backends of the proxysql agent's tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from pacemail.proc import run

TOOLS = ("mariadbd", "mariadb-install-db")
START_S = 30.0
STOP_S = 15.0


def unavailable() -> str | None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    return f"needs {', '.join(missing)} (Debian mariadb-server; ./bootstrap.sh installs it)" \
        if missing else None


class MariaDB:
    """One mariadbd on ``address:port`` (inside ``netns`` when given), data under ``top``."""

    def __init__(self, top: str, address: str, port: int, netns: str | None = None):
        self.top, self.address, self.port, self.netns = top, address, port, netns
        self.datadir = os.path.join(top, "data")
        self.socket = os.path.join(top, "mysqld.sock")
        self.proc: subprocess.Popen | None = None

    def install(self) -> None:
        shutil.rmtree(self.top, ignore_errors=True)
        os.makedirs(self.top)
        run(["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120)

    def start(self) -> None:
        argv = ["mariadbd", "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                f"--port={self.port}", f"--bind-address={self.address}", "--user=root",
                f"--pid-file={self.top}/mysqld.pid", f"--log-error={self.top}/error.log",
                "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--performance-schema=off",
                "--skip-name-resolve"]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_S
        while not self.sql("SELECT 1", check=False).returncode == 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mariadbd on {self.address}:{self.port} did not start: "
                                   f"{self._log_tail()}")
            time.sleep(0.2)

    def sql(self, statement: str, check: bool = True):
        """Run ``statement`` as root over the unix socket (mariadb client, bounded)."""
        return run(["mariadb", "--no-defaults", f"--socket={self.socket}", "-uroot", "-N", "-B",
                    "--connect-timeout=2", "-e", statement], timeout=10, check=check)

    def add_user(self, user: str, password: str) -> None:
        self.sql(f"CREATE OR REPLACE USER '{user}'@'%' IDENTIFIED BY '{password}'; "
                 f"GRANT USAGE ON *.* TO '{user}'@'%'")

    def stop(self) -> None:
        """SIGTERM (a clean InnoDB shutdown), SIGKILL after STOP_S."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(STOP_S)

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.top, "error.log"), encoding="utf-8", errors="replace") as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError as exc:
            return str(exc)
