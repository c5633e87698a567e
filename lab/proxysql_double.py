"""A ProxySQL test double: the parts of ``proxysql`` that ocf:pacemail:proxysql sees.

Run as ``proxysql -c CONFIG -D DATADIR`` (``-f`` stays in the foreground). Like
the real binary it daemonizes: the command returns once the daemon has
written DATADIR/proxysql.pid; the daemon (the "angel", whose pid that is)
works in DATADIR and forks the worker, restarting it when it dies by a
signal or a non-zero exit, and exiting when it exits 0 (PROXYSQL SHUTDOWN).
The worker serves:

- the admin interface on ``admin_variables.mysql_ifaces``, speaking the
  real MySQL protocol (mysql-mimic) with ``admin_credentials``, over
  ProxySQL's own kind of store, SQLite: ``mysql_servers`` (memory),
  ``runtime_mysql_servers``, ``stats_mysql_connection_pool`` (also as
  ``stats.``) and ``disk.mysql_servers`` (DATADIR/proxysql.db, read at start
  instead of the config file when it exists), with ``LOAD MYSQL SERVERS TO
  RUNTIME``, ``SAVE MYSQL SERVERS TO DISK`` / ``FROM RUNTIME`` and
  ``PROXYSQL SHUTDOWN``; every value comes back as text, as ProxySQL's do;
- the proxy port on ``mysql_variables.interfaces``: a TCP forwarder to the
  heaviest ONLINE server of the first ``mysql_users`` entry's
  ``default_hostgroup``. Unlike ProxySQL it does not end the MySQL protocol:
  clients log in to the backend itself. A backend that refuses a connection
  is SHUNNED in the runtime, and tried again after 10 s, as ProxySQL does.

Only the standard library and mysql-mimic: the double runs as a script,
outside the pacemail package.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import sys
import time

STATUSES = ("ONLINE", "SHUNNED", "OFFLINE_SOFT", "OFFLINE_HARD")
SERVER_COLUMNS = ("hostgroup_id", "hostname", "port", "gtid_port", "status", "weight",
                  "compression", "max_connections", "max_replication_lag", "use_ssl",
                  "max_latency_ms", "comment")
SERVERS_DDL = """CREATE TABLE {name} (
    hostgroup_id INT CHECK (hostgroup_id>=0) NOT NULL DEFAULT 0,
    hostname VARCHAR NOT NULL,
    port INT CHECK (port >= 0 AND port <= 65535) NOT NULL DEFAULT 3306,
    gtid_port INT NOT NULL DEFAULT 0,
    status VARCHAR CHECK (UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT','OFFLINE_HARD'))
        NOT NULL DEFAULT 'ONLINE',
    weight INT CHECK (weight >= 0 AND weight <= 10000000) NOT NULL DEFAULT 1,
    compression INT NOT NULL DEFAULT 0,
    max_connections INT NOT NULL DEFAULT 1000,
    max_replication_lag INT NOT NULL DEFAULT 0,
    use_ssl INT NOT NULL DEFAULT 0,
    max_latency_ms INT NOT NULL DEFAULT 0,
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (hostgroup_id, hostname, port))"""
POOL_DDL = """CREATE TABLE stats.stats_mysql_connection_pool (
    hostgroup INT, srv_host VARCHAR, srv_port INT, status VARCHAR, ConnUsed INT, ConnFree INT,
    ConnOK INT, ConnERR INT, MaxConnUsed INT, Queries INT, Queries_GTID_sync INT,
    Bytes_data_sent INT, Bytes_data_recv INT, Latency_us INT)"""
COMMANDS = {  # ProxySQL's admin commands this double knows, upper-cased and blank-normalized
    "LOAD MYSQL SERVERS TO RUNTIME": "load", "LOAD MYSQL SERVERS FROM MEMORY": "load",
    "LOAD MYSQL SERVERS TO RUN": "load", "SAVE MYSQL SERVERS TO DISK": "save_disk",
    "SAVE MYSQL SERVERS FROM RUNTIME": "save_runtime", "SAVE MYSQL SERVERS TO MEMORY": "save_runtime",
    "PROXYSQL SHUTDOWN": "shutdown", "PROXYSQL KILL": "kill",
}
SHUN_RECOVERY_S = 10.0
CONNECT_TIMEOUT_S = 1.0
RESTART_PAUSE_S = 1.0


# -- the configuration file (the libconfig subset proxysql.cnf uses) ----------------

TOKEN = re.compile(r'\s+|#[^\n]*|//[^\n]*|"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w-]*)|(-?\d+)|([=:;,{}()\[\]])')


def parse_config(text: str) -> dict:
    """``text`` in libconfig syntax as nested dicts (groups) and lists (lists, arrays)."""
    tokens, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"config: cannot parse at {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("str", bytes(m.group(1), "utf-8").decode("unicode_escape")))
        elif m.group(2):
            tokens.append(("name", m.group(2)))
        elif m.group(3):
            tokens.append(("int", int(m.group(3))))
        elif m.group(4):
            tokens.append(("punct", m.group(4)))
    tokens.append(("end", None))
    return _settings(tokens, 0, ("end", None))[0]


def _settings(tokens, at, closing):
    found = {}
    while tokens[at] != closing:
        kind, name = tokens[at]
        if kind != "name" or tokens[at + 1] not in (("punct", "="), ("punct", ":")):
            raise ValueError(f"config: expected 'name =', found {name!r}")
        found[name], at = _value(tokens, at + 2)
        if tokens[at] in (("punct", ";"), ("punct", ",")):
            at += 1
    return found, at + 1


def _value(tokens, at):
    kind, value = tokens[at]
    if kind in ("str", "int"):
        return value, at + 1
    if kind == "name" and value.lower() in ("true", "false"):
        return value.lower() == "true", at + 1
    if (kind, value) == ("punct", "{"):
        return _settings(tokens, at + 1, ("punct", "}"))
    if kind == "punct" and value in "([":
        closing, items, at = ")" if value == "(" else "]", [], at + 1
        while tokens[at] != ("punct", closing):
            item, at = _value(tokens, at)
            items.append(item)
            if tokens[at] == ("punct", ","):
                at += 1
        return items, at + 1
    raise ValueError(f"config: unexpected {value!r}")


def host_port(text: str, default_port: int) -> tuple[str, int]:
    """The first ``host:port`` of a ProxySQL interface list (``;``-separated)."""
    first = text.split(";")[0].strip()
    host, _, port = first.rpartition(":")
    return (host or "0.0.0.0"), int(port or default_port)


# -- the admin store ---------------------------------------------------------------

class Store:
    """The admin tables in SQLite, and the runtime the forwarder routes by."""

    def __init__(self, datadir: str, config: dict):
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.execute(f"ATTACH DATABASE '{os.path.join(datadir, 'proxysql.db')}' AS disk")
        self.db.execute("ATTACH DATABASE ':memory:' AS stats")
        for name in ("main.mysql_servers", "main.runtime_mysql_servers"):
            self.db.execute(SERVERS_DDL.format(name=name))
        self.db.execute(SERVERS_DDL.format(name="IF NOT EXISTS disk.mysql_servers"))
        self.db.execute(POOL_DDL)
        self.counters: dict[tuple, dict] = {}
        self.shunned_at: dict[tuple, float] = {}
        if self.db.execute("SELECT COUNT(*) FROM disk.mysql_servers").fetchone()[0]:
            self.db.execute("INSERT INTO main.mysql_servers SELECT * FROM disk.mysql_servers")
        else:
            for s in config.get("mysql_servers", []):
                self.db.execute(
                    "INSERT INTO main.mysql_servers (hostgroup_id, hostname, port, status, weight, "
                    "max_connections, comment) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (s.get("hostgroup", 0), s["address"], s.get("port", 3306),
                     s.get("status", "ONLINE").upper(), s.get("weight", 1),
                     s.get("max_connections", 1000), s.get("comment", "")))
        self.load()

    def load(self) -> None:
        self.db.execute("DELETE FROM main.runtime_mysql_servers")
        self.db.execute("INSERT INTO main.runtime_mysql_servers SELECT * FROM main.mysql_servers")
        self.shunned_at.clear()

    def command(self, verb: str) -> None:
        if verb == "load":
            self.load()
        elif verb == "save_disk":
            self.db.execute("DELETE FROM disk.mysql_servers")
            self.db.execute("INSERT INTO disk.mysql_servers SELECT * FROM main.mysql_servers")
        elif verb == "save_runtime":
            self.db.execute("DELETE FROM main.mysql_servers")
            self.db.execute("INSERT INTO main.mysql_servers SELECT * FROM main.runtime_mysql_servers")

    def refresh_pool(self) -> None:
        self.db.execute("DELETE FROM stats.stats_mysql_connection_pool")
        for hg, host, port, status in self.db.execute(
                "SELECT hostgroup_id, hostname, port, status FROM main.runtime_mysql_servers"):
            c = self.counters.get((hg, host, port), {})
            self.db.execute("INSERT INTO stats.stats_mysql_connection_pool VALUES "
                            "(?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0, ?, ?, 0)",
                            (hg, host, port, status, c.get("used", 0), c.get("ok", 0),
                             c.get("err", 0), c.get("max", 0), c.get("ok", 0),
                             c.get("sent", 0), c.get("recv", 0)))

    def candidates(self, hostgroup: int) -> list[tuple[str, int]]:
        """Servers to try for ``hostgroup``: ONLINE ones by weight, then SHUNNED ones due a retry."""
        now = time.monotonic()
        rows = self.db.execute("SELECT hostname, port, status FROM main.runtime_mysql_servers "
                               "WHERE hostgroup_id = ? ORDER BY weight DESC", (hostgroup,)).fetchall()
        online = [(h, p) for h, p, s in rows if s == "ONLINE"]
        due = [(h, p) for h, p, s in rows if s == "SHUNNED" and
               now - self.shunned_at.get((hostgroup, h, p), 0.0) >= SHUN_RECOVERY_S]
        return online + due

    def mark(self, hostgroup: int, host: str, port: int, ok: bool) -> None:
        """Record a connection attempt: success brings a SHUNNED server back, failure shuns it."""
        c = self.counters.setdefault((hostgroup, host, port), {})
        c["ok" if ok else "err"] = c.get("ok" if ok else "err", 0) + 1
        status = "ONLINE" if ok else "SHUNNED"
        if not ok:
            self.shunned_at[(hostgroup, host, port)] = time.monotonic()
        self.db.execute("UPDATE main.runtime_mysql_servers SET status = ? WHERE hostgroup_id = ? "
                        "AND hostname = ? AND port = ? AND status IN ('ONLINE', 'SHUNNED')",
                        (status, hostgroup, host, port))


# -- the admin interface -------------------------------------------------------------

def admin_session_class(store: Store, stop):
    from mysql_mimic import Session
    from mysql_mimic.errors import MysqlError

    class AdminSession(Session):
        async def handle_query(self, sql, attrs):
            text = " ".join(sql.strip().rstrip(";").split())
            verb = COMMANDS.get(text.upper())
            if verb in ("shutdown", "kill"):
                stop(0 if verb == "shutdown" else 1)
                return None
            if verb:
                store.command(verb)
                return None
            first = text.split(" ", 1)[0].upper()
            if first not in ("SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE") or "@@" in text:
                return await super().handle_query(sql, attrs)
            if first != "SELECT" and "runtime_" in text.lower():
                raise MysqlError("runtime tables are read-only: change mysql_servers and "
                                 "LOAD MYSQL SERVERS TO RUNTIME")
            try:
                store.refresh_pool()
                cursor = store.db.execute(text)
            except sqlite3.Error as exc:
                raise MysqlError(f"SQL error: {exc}") from None
            if cursor.description is None:
                return None
            names = [d[0] for d in cursor.description]
            return [[None if v is None else str(v) for v in row] for row in cursor], names

    return AdminSession


def identity(user: str, password: str):
    from mysql_mimic.auth import IdentityProvider, NativePasswordAuthPlugin, User

    class Admins(IdentityProvider):
        async def get_user(self, username):
            if username != user:
                return None
            return User(name=user, auth_string=NativePasswordAuthPlugin.create_auth_string(password),
                        auth_plugin=NativePasswordAuthPlugin.name)

    return Admins()


# -- the proxy port --------------------------------------------------------------------

async def _pump(reader, writer, counter: dict, key: str) -> None:
    try:
        while data := await reader.read(65536):
            counter[key] = counter.get(key, 0) + len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def forwarder(store: Store, hostgroup: int):
    async def serve(client_r, client_w):
        for host, port in store.candidates(hostgroup):
            try:
                server_r, server_w = await asyncio.wait_for(
                    asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError):
                store.mark(hostgroup, host, port, False)
                continue
            store.mark(hostgroup, host, port, True)
            c = store.counters[(hostgroup, host, port)]
            c["used"] = c.get("used", 0) + 1
            c["max"] = max(c.get("max", 0), c["used"])
            try:
                await asyncio.gather(_pump(client_r, server_w, c, "sent"),
                                     _pump(server_r, client_w, c, "recv"))
            finally:
                c["used"] -= 1
            return
        client_w.close()  # ProxySQL would send an error packet; the client sees a closed connection
    return serve


# -- processes -----------------------------------------------------------------------------

async def serve(config: dict, datadir: str) -> int:
    from mysql_mimic import MysqlServer
    admin = config.get("admin_variables", {})
    mysql = config.get("mysql_variables", {})
    user, _, password = admin.get("admin_credentials", "admin:admin").split(";")[0].partition(":")
    users = config.get("mysql_users", [])
    store = Store(datadir, config)
    done = asyncio.get_running_loop().create_future()

    def stop(code):
        if not done.done():
            done.set_result(code)

    host, port = host_port(admin.get("mysql_ifaces", "0.0.0.0:6032"), 6032)
    admin_server = MysqlServer(session_factory=admin_session_class(store, stop),
                               identity_provider=identity(user, password))
    await admin_server.start_server(host=host, port=port, reuse_address=True)
    host, port = host_port(mysql.get("interfaces", "0.0.0.0:6033"), 6033)
    hostgroup = users[0].get("default_hostgroup", 0) if users else 0
    proxy = await asyncio.start_server(forwarder(store, hostgroup), host, port, reuse_address=True)
    code = await done
    proxy.close()
    admin_server.close()
    return code


def worker(config: dict, datadir: str) -> None:
    os._exit(asyncio.run(serve(config, datadir)))


def angel(config: dict, datadir: str) -> int:
    """Run the worker, again whenever it dies by a signal or exits non-zero."""
    while True:
        pid = os.fork()
        if pid == 0:
            worker(config, datadir)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            log("Shutdown angel process")
            return 0
        log(f"ProxySQL exited with status {status}. Restarting!")
        time.sleep(RESTART_PAUSE_S)


def log(message: str) -> None:
    sys.stderr.write(time.strftime("%Y-%m-%d %H:%M:%S ") + f"[INFO] {message}\n")
    sys.stderr.flush()


def alive(datadir: str) -> int | None:
    """The pid in DATADIR/proxysql.pid if that process runs in DATADIR (a double of this instance)."""
    try:
        with open(os.path.join(datadir, "proxysql.pid")) as f:
            pid = int(f.read().split()[0])
        return pid if os.readlink(f"/proc/{pid}/cwd") == datadir else None
    except (OSError, ValueError, IndexError):
        return None


def daemonize(datadir: str) -> None:
    """Return in the daemon (setsid, in DATADIR, pid file written); the caller's process exits."""
    ready_r, ready_w = os.pipe()
    if os.fork():
        os.close(ready_w)
        sys.exit(0 if os.read(ready_r, 1) == b"0" else 1)
    os.close(ready_r)
    os.setsid()
    os.chdir(datadir)
    with open("proxysql.pid", "w") as f:
        f.write(f"{os.getpid()}\n")
    out = os.open("proxysql.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((null, 0), (out, 1), (out, 2)):
        os.dup2(fd, target)
    os.write(ready_w, b"0")
    os.close(ready_w)


def main(argv: list[str]) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="proxysql", description="ProxySQL test double")
    parser.add_argument("-c", "--config", default="/etc/proxysql.cnf")
    parser.add_argument("-D", "--datadir")
    parser.add_argument("-f", "--foreground", action="store_true")
    args = parser.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        config = parse_config(f.read())
    datadir = os.path.realpath(args.datadir or config.get("datadir", "/var/lib/proxysql"))
    running = alive(datadir)
    if running:
        sys.stderr.write(f"proxysql: already running on PID file with pid {running}\n")
        return 1
    if args.foreground:
        os.chdir(datadir)
    else:
        daemonize(datadir)
    log("Starting ProxySQL (test double)")
    return angel(config, datadir)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
