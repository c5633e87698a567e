"""ocf:pacemail:dovecot: one dovecot instance, a drop-in for ocf:heartbeat:dovecot.

Parameters keep the heartbeat agent's names and meanings (binary,
config_file, pid_file, parameters); the additions have safe defaults.
Differences on purpose:
- config_file is really used (the heartbeat agent tests an unset variable
  and always runs the default configuration);
- the master is the pid in base_dir's master.pid only if /proc shows
  ``dovecot`` working in that base_dir; the monitor runs no command (base_dir
  comes from a /run cache of ``doveconf -h base_dir``, or from pid_file);
- depth 10 expects the IMAP greeting and an LMTP LHLO answer, depth 20 a
  login of a test account that sees INBOX (password from a root-only file);
- stop escalates from ``doveadm stop`` to SIGKILL of this instance's
  processes only, within the stop timeout.
"""

from __future__ import annotations

import os

from pacemail.agents import daemons
from pacemail.agents.mailchecks import (
    check_ip, check_name, check_path, check_port, check_positive, check_words,
)
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_PERM, OCF_NOT_RUNNING,
    OCF_SUCCESS, Agent, OCFError, Param,
)

DEFAULT_CONFIG = "/etc/dovecot/dovecot.conf"
LIBEXEC_DIR = "/usr/lib/dovecot"  # where dovecot's child programs live (Debian)
POLL_S = 0.05

AGENT = Agent(
    name="dovecot",
    version="1.0",
    shortdesc="Dovecot IMAP/LMTP server instance (drop-in for heartbeat dovecot)",
    longdesc=(
        "Starts, stops and monitors one dovecot instance, given by its configuration "
        "file; mail and indexes may live on the replicated mail volume. Monitor depth 0 "
        "checks that the instance's master runs, depth 10 that IMAP greets (* OK) and "
        "LMTP answers LHLO (where configured), depth 20 that the monitor account logs "
        "in and sees INBOX. Parameters follow ocf:heartbeat:dovecot."
    ),
    params=[
        Param("binary", default="/usr/sbin/dovecot", check=check_path,
              shortdesc="Full path to Dovecot binary",
              longdesc="Full path to the dovecot master binary, e.g. /usr/sbin/dovecot."),
        Param("config_file", unique_group="config_file", check=check_path,
              shortdesc="Full path to configuration file",
              longdesc=f"The instance's dovecot.conf. Empty: {DEFAULT_CONFIG}."),
        Param("pid_file", unique_group="pid_file", check=check_path,
              shortdesc="Full path to PID file",
              longdesc="The master's pid file. Empty: master.pid in the configuration's "
                       "base_dir (/run/dovecot/master.pid by default), read once per version "
                       "of config_file with doveconf. Set it when base_dir is set in an "
                       "included file, whose changes the cache does not see."),
        Param("parameters", check=check_words, shortdesc="Additional dovecot options",
              longdesc="Options added to the dovecot command line at start, split on blanks "
                       "and passed as separate words, never to a shell."),
        Param("doveadm", default="/usr/bin/doveadm", check=check_path,
              shortdesc="Full path to doveadm",
              longdesc="Used for stop and reload; doveconf is taken from the same folder."),
        Param("imap_address", check=check_ip, shortdesc="Address of the IMAP probe",
              longdesc="IP address the instance's IMAP listens on; empty: no IMAP probe."),
        Param("imap_port", "integer", default=143, check=check_port,
              shortdesc="Port of the IMAP probe", longdesc="TCP port for imap_address."),
        Param("lmtp_socket", check=check_path, shortdesc="LMTP unix socket to probe",
              longdesc="Path of the LMTP unix socket (e.g. /run/dovecot/lmtp); it wins "
                       "over lmtp_address. Empty with lmtp_address empty: no LMTP probe."),
        Param("lmtp_address", check=check_ip, shortdesc="Address of the LMTP probe",
              longdesc="IP address of the LMTP inet listener."),
        Param("lmtp_port", "integer", default=24, check=check_port,
              shortdesc="Port of the LMTP probe", longdesc="TCP port for lmtp_address."),
        Param("monitor_user", check=check_name, shortdesc="Account of the depth 20 login",
              longdesc="User the depth 20 monitor logs in as over IMAP (imap_address) to "
                       "see INBOX. Empty: depth 20 checks what depth 10 checks."),
        Param("monitor_password_file", check=check_path, shortdesc="Password of monitor_user",
              longdesc="File holding monitor_user's password on its first line; it must be "
                       "owned by root and not readable by group or others. The password never "
                       "goes into the CIB."),
        Param("probe_timeout", "integer", default=5, check=check_positive,
              shortdesc="Seconds for each protocol probe",
              longdesc="How long each IMAP/LMTP conversation of a monitor may take (also "
                       "capped by the operation's timeout)."),
        Param("stop_grace", "integer", default=5, check=check_positive,
              shortdesc="Seconds stop waits before SIGKILL",
              longdesc="How long stop waits after 'doveadm stop' before SIGKILL of the "
                       "instance's processes; capped at a third of the time left."),
    ],
)


# -- the instance -----------------------------------------------------------------

def config_file(ctx) -> str:
    return ctx.params["config_file"] or DEFAULT_CONFIG


def doveconf(ctx) -> str:
    return os.path.join(os.path.dirname(ctx.params["doveadm"]), "doveconf")


def pid_file(ctx) -> str:
    """The master's pid file; OSError when config_file is not here.

    OCFError(5) when doveconf is missing or refuses the file: this node
    cannot run the instance (a probe says "not running", stop has nothing
    to stop), as the heartbeat agent says of a configuration it cannot
    read; OCFError(1) when doveconf hangs.
    """
    if ctx.params["pid_file"]:
        return ctx.params["pid_file"]
    from pacemail.agents.confcache import cached
    path = config_file(ctx)

    def ask():
        from pacemail.proc import CommandError
        try:
            return ctx.run([doveconf(ctx), "-c", path, "-h", "base_dir"], timeout=10).stdout.strip()
        except CommandError as exc:
            raise OCFError(OCF_ERR_GENERIC if exc.timeout is not None else OCF_ERR_INSTALLED,
                           f"cannot read base_dir of {path} on this node: {exc}") from None
    return cached(path, "doveconf-base_dir", ask).rstrip("/") + "/master.pid"


def base_dir(ctx) -> str:
    """The instance's base_dir as a real path (the master works there)."""
    return os.path.realpath(os.path.dirname(pid_file(ctx)))


def master_pid(ctx) -> int | None:
    return _master(pid_file(ctx), base_dir(ctx))


def _master(pids: str, top: str) -> int | None:
    pid = daemons.read_pid(pids)
    return pid if daemons.is_master(pid, "dovecot", top) else None


def _found(ctx) -> int | None:
    """master_pid, with a configuration not on this node meaning "not running"."""
    if not os.path.exists(config_file(ctx)):
        return None
    return master_pid(ctx)


@AGENT.running_check
def is_running(ctx) -> bool:
    try:
        return _found(ctx) is not None
    except OSError:
        return False


# -- probes -----------------------------------------------------------------------

def _timeout(ctx) -> float:
    return min(ctx.params["probe_timeout"], max(0.1, ctx.remaining()))


def password(ctx) -> str:
    """monitor_user's password from its root-only file."""
    import stat
    path = ctx.params["monitor_password_file"]
    if not path:
        raise OCFError(OCF_ERR_CONFIGURED, "monitor_user needs monitor_password_file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise OCFError(OCF_ERR_INSTALLED, f"monitor_password_file {path}: "
                       f"{exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
            raise OCFError(OCF_ERR_PERM, f"monitor_password_file {path} must be a regular file "
                           "owned by root without group or other permissions")
        return f.readline().rstrip(b"\r\n").decode("utf-8", "surrogateescape")


def probe(ctx, depth: int) -> None:
    """OCFError(1) unless the configured protocols answer: IMAP and LMTP, and at depth 20 a login."""
    from pacemail.agents import probes
    p = ctx.params
    try:
        if p["imap_address"]:
            where = probes.endpoint(p["imap_address"], p["imap_port"])
            if depth >= 20 and p["monitor_user"]:
                probes.imap(where, _timeout(ctx), p["monitor_user"], password(ctx))
            else:
                probes.imap(where, _timeout(ctx))
        if p["lmtp_socket"] or p["lmtp_address"]:
            where = p["lmtp_socket"] or probes.endpoint(p["lmtp_address"], p["lmtp_port"])
            probes.smtp(where, _timeout(ctx), hello=os.uname().nodename)
    except probes.ProbeError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"dovecot probe: {exc}") from None


# -- actions ------------------------------------------------------------------------

@AGENT.action("monitor", timeout=30, interval=20, depth=0)
def monitor(ctx) -> int:
    try:
        if _found(ctx) is None:
            return OCF_NOT_RUNNING
    except OSError as exc:
        ctx.log.info(f"{config_file(ctx)}: {exc.strerror or exc}: not running here")
        return OCF_NOT_RUNNING
    if ctx.check_level >= 10:
        probe(ctx, ctx.check_level)
    return OCF_SUCCESS


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    p = ctx.params
    for name in ("binary", "doveadm"):
        if not os.access(p[name], os.X_OK):
            raise OCFError(OCF_ERR_INSTALLED, f"{p[name]} ({name}) is not an executable on this node")
    if not os.path.isfile(config_file(ctx)):
        raise OCFError(OCF_ERR_INSTALLED, f"{config_file(ctx)} does not exist on this node")
    if p["monitor_user"]:
        password(ctx)
    return OCF_SUCCESS


def _dovecot(ctx, *words) -> list[str]:
    return [ctx.params["binary"], "-c", config_file(ctx), *words]


def _doveadm(ctx, *words) -> list[str]:
    return [ctx.params["doveadm"], "-c", config_file(ctx), *words]


@AGENT.action("start", timeout=60)
def start(ctx) -> int:
    import time
    from pacemail.proc import CommandError
    if master_pid(ctx) is not None:
        ctx.log.info(f"dovecot {config_file(ctx)} is already running")
        return OCF_SUCCESS
    try:  # the daemon keeps dovecot's stdout and stderr: its errors come from doveconf
        ctx.run([doveconf(ctx), "-c", config_file(ctx), "-n"])
        ctx.run(_dovecot(ctx, *(ctx.params["parameters"] or "").split()), capture=False)
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"dovecot start failed: {exc}") from None
    while True:
        missing = "no master process" if master_pid(ctx) is None else None
        if missing is None:
            try:
                probe(ctx, 10)
                return OCF_SUCCESS
            except OCFError as exc:
                missing = exc.reason
        if ctx.remaining() < POLL_S:
            raise OCFError(OCF_ERR_GENERIC, f"dovecot {config_file(ctx)} did not come up within "
                           f"the start timeout: {missing}")
        time.sleep(POLL_S)


@AGENT.action("reload", timeout=20)
def reload(ctx) -> int:
    from pacemail.proc import CommandError
    if master_pid(ctx) is None:
        return OCF_NOT_RUNNING
    try:
        ctx.run(_doveadm(ctx, "reload"))
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"doveadm reload failed: {exc}") from None
    return OCF_SUCCESS


@AGENT.action("stop", timeout=60)
def stop(ctx) -> int:
    try:
        pids, top = pid_file(ctx), base_dir(ctx)
    except OSError as exc:
        ctx.log.info(f"{config_file(ctx)}: {exc.strerror or exc}: nothing of it runs here")
        return OCF_SUCCESS
    except OCFError as exc:
        if exc.code != OCF_ERR_INSTALLED:
            raise
        ctx.log.info(f"{exc.reason}: nothing of it runs here")
        return OCF_SUCCESS

    def find():   # from what was read once: the config may vanish mid-stop (volume unmounted)
        pid = _master(pids, top)
        return pid, daemons.members(pid, top, LIBEXEC_DIR)
    daemons.stop(ctx, f"dovecot {config_file(ctx)}", [_doveadm(ctx, "stop")], find,
                 float(ctx.params["stop_grace"]))
    return OCF_SUCCESS
