"""ocf:pacemail:proxysql: one ProxySQL instance, routing the mail system's SQL to the Galera writer.

An instance is given by its datadir: start runs ``proxysql -c CONFIG -D
DATADIR``, which daemonizes; the pid in DATADIR/proxysql.pid is ProxySQL's
"angel" (it restarts its worker after a crash), and both work in the datadir.
Processes of the instance are those running ``binary`` (as argv[0], or
argv[1] of an interpreter) with their working directory in the datadir, as
/proc shows them: another instance, or a pid reused after a crash, is never
taken for this one.

- monitor depth 0: the angel runs and the admin interface answers SELECT 1;
  depth 10: runtime_mysql_servers has an ONLINE server in the writer
  hostgroup, else degraded (190) naming the statuses seen; depth 20: a query
  through the proxy port reaches a backend (``monitor_user`` must be a
  ProxySQL frontend user, in mysql_users, whose default hostgroup is the
  writer hostgroup).
- stop: ``PROXYSQL SHUTDOWN`` on the admin interface, then SIGTERM, then
  SIGKILL to this instance's processes only, each step bounded.
- Passwords come from root-only files, never from the CIB. A password file
  readable or writable by others is refused with OCF_ERR_PERM (4): it is a
  fault of this node's file, not of the parameter values (6 would ban the
  resource from every node), and a probe never reads it.
"""

from __future__ import annotations

import os

from pacemail.agents import daemons
from pacemail.agents.mailchecks import check_ip, check_name, check_path, check_port, check_positive
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM, OCF_NOT_RUNNING,
    OCF_SUCCESS, Agent, OCFError, Param,
)

POLL_S = 0.2
KILL_WAIT_S = 2.0
PID_FILE = "proxysql.pid"


def _check_hostgroup(value: int) -> None:
    if value < 0:
        raise ValueError("is not a hostgroup id (0 or more)")

AGENT = Agent(
    name="proxysql",
    version="1.0",
    shortdesc="ProxySQL instance (SQL router to the Galera writer)",
    longdesc=(
        "Starts, stops and monitors one ProxySQL instance, given by its datadir. Monitor "
        "depth 0 checks the process and that the admin interface answers SELECT 1, depth "
        "10 that the writer hostgroup has an ONLINE server in runtime_mysql_servers "
        "(degraded otherwise: ProxySQL works, the database cluster lacks a writer), depth "
        "20 that a query through the proxy port reaches a backend. Passwords are read "
        "from root-only files on the node, never kept in the CIB."
    ),
    params=[
        Param("binary", default="/usr/bin/proxysql", check=check_path,
              shortdesc="ProxySQL binary", longdesc="Full path to the proxysql program."),
        Param("config", default="/etc/proxysql.cnf", check=check_path,
              shortdesc="configuration file",
              longdesc="Passed as -c; ProxySQL reads it only while its datadir has no "
                       "proxysql.db yet."),
        Param("datadir", default="/var/lib/proxysql", unique_group="datadir", check=check_path,
              shortdesc="data directory",
              longdesc="Passed as -D: holds proxysql.db, proxysql.pid and the log; it tells "
                       "this instance's processes from any other's."),
        Param("admin_address", default="127.0.0.1", check=check_ip,
              shortdesc="admin interface address",
              longdesc="IP address of the admin interface (admin_variables.mysql_ifaces)."),
        Param("admin_port", "integer", default=6032, check=check_port,
              shortdesc="admin interface port"),
        Param("admin_user", default="admin", check=check_name, shortdesc="admin user",
              longdesc="A user of admin_variables.admin_credentials (ProxySQL lets 'admin' "
                       "log in only from localhost)."),
        Param("admin_password_file", required=True, check=check_path,
              shortdesc="file holding the admin password",
              longdesc="A file on the node holding admin_user's password (one line), readable "
                       "by root only: a file readable or writable by others is refused."),
        Param("writer_hostgroup", "integer", default=10, check=_check_hostgroup,
              shortdesc="writer hostgroup",
              longdesc="The hostgroup that takes the writes (default 10, the writer hostgroup "
                       "of Percona's proxysql-admin for XtraDB/Galera clusters)."),
        Param("proxy_address", default="127.0.0.1", check=check_ip,
              shortdesc="proxy address for depth 20",
              longdesc="IP address of ProxySQL's MySQL interface (mysql_variables.interfaces)."),
        Param("proxy_port", "integer", default=6033, check=check_port, shortdesc="proxy port"),
        Param("monitor_user", check=check_name, shortdesc="user for the depth 20 query",
              longdesc="A ProxySQL frontend user (mysql_users) whose default hostgroup is the "
                       "writer hostgroup; the depth 20 monitor logs in as it through the proxy "
                       "port and runs SELECT @@hostname. Needs monitor_password_file."),
        Param("monitor_password_file", check=check_path,
              shortdesc="file holding monitor_user's password",
              longdesc="Like admin_password_file, for monitor_user."),
        Param("probe_timeout", "integer", default=5, check=check_positive,
              shortdesc="seconds for each SQL conversation",
              longdesc="Bound of each connect, login and query of a monitor (also capped by "
                       "the operation's timeout): a stopped ProxySQL fails the monitor then."),
        Param("stop_grace", "integer", default=10, check=check_positive,
              shortdesc="seconds stop waits after PROXYSQL SHUTDOWN and after SIGTERM",
              longdesc="Each wait is capped at a third of the time left, so SIGKILL always "
                       "fits in the stop timeout."),
    ],
)


# -- the instance's processes (/proc) ----------------------------------------------------

def datadir(ctx) -> str:
    return os.path.realpath(ctx.params["datadir"])


def runs_binary(pid: int, binary: str) -> bool:
    """Whether ``pid`` runs ``binary``: as argv[0], or as the script argv[1] of an interpreter."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read(8192).split(b"\0")[:2]
    except OSError:
        return False
    return os.fsencode(binary) in argv


def is_ours(pid: int | None, ctx) -> bool:
    where = daemons.cwd(pid) if pid and pid != os.getpid() else None
    return where is not None and daemons.under(where, datadir(ctx)) and \
        runs_binary(pid, ctx.params["binary"])


def angel_pid(ctx) -> int | None:
    """The pid in the instance's pid file, if that process is this instance's."""
    pid = daemons.read_pid(os.path.join(datadir(ctx), PID_FILE))
    return pid if is_ours(pid, ctx) else None


def members(ctx) -> list:
    """psutil Processes of this instance (angel, worker, orphans of either)."""
    import psutil
    return [p for p in psutil.process_iter(["name"]) if is_ours(p.pid, ctx)]


@AGENT.running_check
def is_running(ctx) -> bool:
    return angel_pid(ctx) is not None


# -- passwords and SQL ---------------------------------------------------------------------

def read_secret(path: str, what: str, *, strict: bool) -> str:
    """The password in ``path`` (its first line); with ``strict``, refuse a file others may use."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise OCFError(OCF_ERR_INSTALLED, f"{what} {path} does not exist on this node") from None
    except OSError as exc:
        raise OCFError(OCF_ERR_PERM, f"cannot open {what} {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if strict and (st.st_mode & 0o007 or st.st_uid != os.geteuid()):
            raise OCFError(OCF_ERR_PERM, f"{what} {path} is not private (mode "
                           f"{st.st_mode & 0o777:o}, owner uid {st.st_uid}): make it owned by "
                           f"uid {os.geteuid()} and chmod o-rwx")
        lines = f.read(4096).decode("utf-8", "surrogateescape").splitlines()
    if not lines or not lines[0]:
        raise OCFError(OCF_ERR_INSTALLED, f"{what} {path} holds no password")
    return lines[0]


def sql(ctx, where: str, statement: str, args=None) -> list[tuple]:
    """Run ``statement`` on the admin interface (``where`` admin) or through the proxy port."""
    from pacemail.agents import mysqlprobe
    p = ctx.params
    if where == "admin":
        host, port, user = p["admin_address"], p["admin_port"], p["admin_user"]
        secret = read_secret(p["admin_password_file"], "admin_password_file", strict=False)
    else:
        host, port, user = p["proxy_address"], p["proxy_port"], p["monitor_user"]
        secret = read_secret(p["monitor_password_file"], "monitor_password_file", strict=False)
    timeout = min(float(p["probe_timeout"]), ctx.remaining() / 3)
    try:
        return mysqlprobe.query(host, port, user, secret, statement, timeout, args)
    except mysqlprobe.SQLError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"{where} interface: {exc}") from None


# -- monitor -----------------------------------------------------------------------------------

@AGENT.action("monitor", timeout=30, interval=20, depth=0)
def monitor(ctx) -> int:
    if angel_pid(ctx) is None:
        if members(ctx):
            raise OCFError(OCF_ERR_GENERIC, f"ProxySQL processes of {datadir(ctx)} run without "
                           f"the process named in {PID_FILE}")
        return OCF_NOT_RUNNING
    sql(ctx, "admin", "SELECT 1")
    if ctx.check_level >= 10:
        from pacemail.agents.proxysql_status import writer_verdict
        hostgroup = ctx.params["writer_hostgroup"]
        rows = sql(ctx, "admin", "SELECT hostgroup_id, hostname, port, status FROM "
                   f"runtime_mysql_servers WHERE hostgroup_id = {hostgroup}")
        code, reason = writer_verdict(rows, hostgroup)
        if code != OCF_SUCCESS:
            raise OCFError(code, reason)
    if ctx.check_level >= 20:
        if not ctx.params["monitor_user"]:
            raise OCFError(OCF_ERR_CONFIGURED, "the depth 20 monitor needs monitor_user and "
                           "monitor_password_file")
        sql(ctx, "proxy", "SELECT @@hostname")
    return OCF_SUCCESS


# -- validate, start ----------------------------------------------------------------------------

@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    p = ctx.params
    if bool(p["monitor_user"]) != bool(p["monitor_password_file"]):
        raise OCFError(OCF_ERR_CONFIGURED, "parameters monitor_user and monitor_password_file "
                       "go together")
    if not os.access(p["binary"], os.X_OK):
        raise OCFError(OCF_ERR_INSTALLED, f"{p['binary']} is not an executable on this node")
    if not os.path.isfile(p["config"]):
        raise OCFError(OCF_ERR_INSTALLED, f"configuration file {p['config']} does not exist "
                       "on this node")
    if not os.path.isdir(p["datadir"]):
        raise OCFError(OCF_ERR_INSTALLED, f"datadir {p['datadir']} does not exist on this node")
    read_secret(p["admin_password_file"], "admin_password_file", strict=True)
    if p["monitor_password_file"]:
        read_secret(p["monitor_password_file"], "monitor_password_file", strict=True)
    return OCF_SUCCESS


def _admin_answers(ctx) -> str | None:
    """None once the admin interface answers, else why not."""
    if angel_pid(ctx) is None:
        return f"no live process in {PID_FILE}"
    try:
        sql(ctx, "admin", "SELECT 1")
    except OCFError as exc:
        return exc.reason
    return None


@AGENT.action("start", timeout=60)
def start(ctx) -> int:
    import time
    from pacemail.proc import CommandError
    p = ctx.params
    if angel_pid(ctx) is not None:
        ctx.log.info(f"ProxySQL {datadir(ctx)} is already running")
        return OCF_SUCCESS
    _end(ctx, members(ctx), "left over from an instance whose angel died")
    try:
        ctx.run([p["binary"], "-c", p["config"], "-D", p["datadir"]], timeout=max(1.0, ctx.remaining() / 2))
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"proxysql did not start: {exc}") from None
    while True:
        missing = _admin_answers(ctx)
        if missing is None:
            return OCF_SUCCESS
        if ctx.remaining() < POLL_S * 2:
            raise OCFError(OCF_ERR_GENERIC, f"ProxySQL {datadir(ctx)} did not come up within the "
                           f"start timeout: {missing}")
        time.sleep(POLL_S)


# -- stop -----------------------------------------------------------------------------------------

def _end(ctx, procs, why: str) -> None:
    """SIGTERM, then SIGKILL, to ``procs`` within the time left; OCFError if any survive."""
    import signal
    from pacemail.agents.holders import describe, signal_and_wait
    grace = float(ctx.params["stop_grace"])
    for sig, wait_s in ((signal.SIGTERM, min(grace, ctx.remaining() / 3)),
                        (signal.SIGKILL, min(KILL_WAIT_S, ctx.remaining()))):
        if not procs:
            return
        ctx.log.warning(f"sending {sig.name} to ProxySQL processes {why}: {describe(procs)}")
        procs = signal_and_wait(procs, sig, wait_s)
    if procs:
        raise OCFError(OCF_ERR_GENERIC, f"ProxySQL {datadir(ctx)} still runs after SIGKILL: "
                       f"{describe(procs)}")


@AGENT.action("stop", timeout=60)
def stop(ctx) -> int:
    from pacemail.agents.holders import wait_gone
    procs = members(ctx)
    if not procs:
        return OCF_SUCCESS
    if angel_pid(ctx) is not None:
        try:
            sql(ctx, "admin", "PROXYSQL SHUTDOWN")
        except OCFError as exc:
            ctx.log.warning(f"PROXYSQL SHUTDOWN: {exc.reason}")
        procs = wait_gone(procs, min(float(ctx.params["stop_grace"]), ctx.remaining() / 3))
    _end(ctx, procs, "after PROXYSQL SHUTDOWN")
    return OCF_SUCCESS
