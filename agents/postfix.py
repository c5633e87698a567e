"""ocf:pacemail:postfix: one postfix instance, a drop-in for ocf:heartbeat:postfix.

Parameters keep the heartbeat agent's names and meanings (binary,
config_dir, parameters); the additions have safe defaults. Exit codes are the
heartbeat agent's in every case resource-agents' ocft suite sets up
(tests/test_agents_ocft.py): a binary or config_dir missing here is
OCF_ERR_INSTALLED, and a bare binary name is looked up in PATH. Differences
on purpose:
- nothing is resolved from the agent's working directory: a relative
  config_dir is missing on every node (OCF_ERR_INSTALLED, what the heartbeat
  agent answers when its working directory lacks it), a binary path with a
  '/' must be absolute (else OCF_ERR_CONFIGURED);
- the monitor runs no postconf: the queue directory comes from main.cf
  itself (or a /run cache of postconf's answer, keyed by main.cf's mtime),
  and the master is the pid in ``pid/master.pid`` only if /proc shows a
  ``master`` working in that queue directory; several instances per node
  never answer for each other;
- depth 10 expects the SMTP greeting (220) and a clean QUIT, depth 20
  runs ``postfix check`` and needs a writable queue directory;
- start waits, within its timeout, for the master and (with smtp_address)
  the greeting; stop escalates from ``postfix stop`` to ``postfix abort``
  to SIGKILL of this instance's processes only, each step bounded.
"""

from __future__ import annotations

import os

from pacemail.agents import daemons, postconf
from pacemail.agents.mailchecks import (
    check_ip, check_path, check_port, check_positive, check_words,
)
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS,
    Agent, OCFError, Param,
)

DEFAULT_CONFIG_DIR = "/etc/postfix"
DEFAULT_DAEMON_DIR = "/usr/lib/postfix/sbin"
POLL_S = 0.05
QUICK_START = "quick-start"   # postfix-script: skip the integrity check once
# What `postfix start`'s check creates in a queue directory (postfix-files, Postfix 3.x).
QUEUE_DIRS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming",
              "maildrop", "pid", "private", "public", "saved", "trace")
COMMAND_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


def _check_binary(text: str) -> str | None:
    """An absolute path, or a command name found through PATH (heartbeat's check_binary)."""
    if "/" in text:
        return check_path(text)
    if text.startswith("-") or not set(text) <= COMMAND_CHARS:
        raise ValueError("is not an absolute path or a command name (letters, digits, '_.+-')")
    return None


def _check_config_dir(text: str) -> str | None:
    """An absolute path; a relative one is well formed but names no folder on any node.

    heartbeat's postfix looks a relative config_dir up from its working
    directory and reports it missing (OCF_ERR_INSTALLED); this agent never
    uses it, and validate-all reports it missing the same way.
    """
    if text.startswith("/"):
        return check_path(text)
    check_path("/" + text)  # the same characters and lengths as an absolute one
    return None

AGENT = Agent(
    name="postfix",
    version="1.0",
    shortdesc="Postfix mail server instance (drop-in for heartbeat postfix)",
    longdesc=(
        "Starts, stops and monitors one postfix instance, given by its configuration "
        "directory; several instances (e.g. MX and submission) can run on one node. "
        "The queue directory may live on the replicated mail volume, so queued mail "
        "moves with the instance. Monitor depth 0 checks that the instance's master "
        "runs, depth 10 that the SMTP port greets with 220 (needs smtp_address), depth "
        "20 runs 'postfix check' and needs a writable queue directory. Parameters "
        "follow ocf:heartbeat:postfix."
    ),
    params=[
        Param("binary", default="/usr/sbin/postfix", check=_check_binary,
              shortdesc="Full path to Postfix binary",
              longdesc="Full path to the postfix command, e.g. /usr/sbin/postfix; a bare "
                       "command name is looked up in PATH. Missing on this node: "
                       "OCF_ERR_INSTALLED."),
        Param("config_dir", unique_group="config_dir", check=_check_config_dir,
              shortdesc="Full path to configuration directory",
              longdesc="The instance's configuration directory (main.cf, master.cf). "
                       f"Empty: {DEFAULT_CONFIG_DIR}. Another directory must be listed in "
                       "alternate_config_directories or multi_instance_directories of the "
                       "default main.cf, as postfix's own tools require. A relative path "
                       "names no directory (it is never resolved from the agent's working "
                       "directory): like a missing one, OCF_ERR_INSTALLED, as heartbeat's "
                       "postfix answers it."),
        Param("parameters", check=check_words, shortdesc="Additional postfix options",
              longdesc="Options put before the command on every postfix call (e.g. -v), "
                       "split on blanks and passed as separate words, never to a shell."),
        Param("queue_directory", check=check_path, shortdesc="Expected queue directory",
              longdesc="The instance's queue_directory. When set, the monitor uses it without "
                       "reading main.cf, and start refuses to run if main.cf says otherwise."),
        Param("smtp_address", check=check_ip, shortdesc="Address of the SMTP probe",
              longdesc="IP address the instance's smtpd listens on. When set, start waits "
                       "for its 220 greeting and the depth 10 monitor checks it; empty: "
                       "no SMTP probe."),
        Param("smtp_port", "integer", default=25, check=check_port,
              shortdesc="Port of the SMTP probe", longdesc="TCP port for smtp_address."),
        Param("probe_timeout", "integer", default=5, check=check_positive,
              shortdesc="Seconds for the SMTP probe",
              longdesc="How long the SMTP conversation of a monitor may take (also capped "
                       "by the operation's timeout); a wedged smtpd fails the monitor then."),
        Param("stop_grace", "integer", default=5, check=check_positive,
              shortdesc="Seconds stop waits before abort",
              longdesc="How long stop waits after 'postfix stop' before 'postfix abort', and "
                       "after that before SIGKILL; each wait is capped at a third of the "
                       "time left, so the escalation fits the stop timeout."),
    ],
)


# -- the instance -----------------------------------------------------------------

def config_dir(ctx) -> str:
    return (ctx.params["config_dir"] or DEFAULT_CONFIG_DIR).rstrip("/") or "/"


def _postconf(ctx):
    return lambda argv: ctx.run(argv, timeout=10).stdout


def queue_dir(ctx) -> str:
    """The instance's queue directory (real path); OSError when main.cf is not here."""
    folder = config_dir(ctx)
    if not folder.startswith("/"):
        raise FileNotFoundError(2, "config_dir is not an absolute path", folder)
    path = ctx.params["queue_directory"] or postconf.value(folder, "queue_directory",
                                                            _postconf(ctx))
    return os.path.realpath(path)


def master_pid(queue: str) -> int | None:
    """The pid of this instance's running master, from its pid file checked in /proc."""
    pid = daemons.read_pid(queue + "/pid/master.pid")
    return pid if daemons.is_master(pid, "master", queue) else None


def postfix_argv(ctx) -> list[str]:
    p = ctx.params
    return [p["binary"], "-c", config_dir(ctx), *(p["parameters"] or "").split()]


def postfix(ctx, command: str):
    return ctx.run(postfix_argv(ctx) + [command])


def smtp_probe(ctx) -> None:
    """OCFError(1) unless the SMTP port greets with 220 and takes QUIT within the probe timeout."""
    from pacemail.agents import probes
    p = ctx.params
    try:
        probes.smtp(probes.endpoint(p["smtp_address"], p["smtp_port"]),
                    min(p["probe_timeout"], max(0.1, ctx.remaining())))
    except probes.ProbeError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"SMTP probe: {exc}") from None


@AGENT.running_check
def is_running(ctx) -> bool:
    try:
        return master_pid(queue_dir(ctx)) is not None
    except OSError:
        return False


# -- monitor ----------------------------------------------------------------------

def queue_writable(queue: str) -> None:
    if os.statvfs(queue).f_flag & os.ST_RDONLY:
        raise OCFError(OCF_ERR_GENERIC, f"queue directory {queue} is on a read-only filesystem")
    if not os.access(queue, os.W_OK):
        raise OCFError(OCF_ERR_GENERIC, f"queue directory {queue} is not writable")


@AGENT.action("monitor", timeout=30, interval=20, depth=0)
def monitor(ctx) -> int:
    try:
        queue = queue_dir(ctx)
    except OSError as exc:
        ctx.log.info(f"{config_dir(ctx)}/main.cf: {exc.strerror or exc}: not running here")
        return OCF_NOT_RUNNING
    if master_pid(queue) is None:
        return OCF_NOT_RUNNING
    if ctx.check_level >= 10 and ctx.params["smtp_address"]:
        smtp_probe(ctx)
    if ctx.check_level >= 20:
        queue_writable(queue)
        _check(ctx)
    return OCF_SUCCESS


def _check(ctx) -> None:
    from pacemail.proc import CommandError
    try:
        postfix(ctx, "check")
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"postfix check failed: {exc}") from None


# -- validate, start, reload ---------------------------------------------------------

def _listed_as_alternate(ctx, folder: str) -> bool:
    """Whether the default main.cf lets postfix's tools use ``folder`` (-c)."""
    names = ("alternate_config_directories", "multi_instance_directories")
    listed = set()
    for name in names:
        listed.update(w.rstrip("/") for w in postconf.value(DEFAULT_CONFIG_DIR, name, _postconf(ctx))
                      .replace(",", " ").split())
    return folder in listed


def _executable(binary: str) -> bool:
    if "/" not in binary:
        import shutil
        return shutil.which(binary) is not None
    return os.path.isfile(binary) and os.access(binary, os.X_OK)


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    binary, folder = ctx.params["binary"], config_dir(ctx)
    if not _executable(binary):
        raise OCFError(OCF_ERR_INSTALLED, f"{binary} is not an executable on this node")
    if not folder.startswith("/"):
        raise OCFError(OCF_ERR_INSTALLED, f"config_dir {folder} is not an absolute path, so no "
                       "configuration directory on this node")
    if not os.path.isfile(os.path.join(folder, "main.cf")):
        raise OCFError(OCF_ERR_INSTALLED, f"{folder}/main.cf does not exist on this node")
    queue = queue_dir(ctx)
    if not os.path.isdir(queue):
        raise OCFError(OCF_ERR_INSTALLED, f"queue directory {queue} does not exist on this node")
    if ctx.params["queue_directory"]:
        configured = os.path.realpath(postconf.value(folder, "queue_directory", _postconf(ctx)))
        if configured != queue:
            raise OCFError(OCF_ERR_CONFIGURED, f"parameter queue_directory: {queue} is not the "
                           f"queue_directory of {folder}/main.cf ({configured})")
    if folder != DEFAULT_CONFIG_DIR and not _listed_as_alternate(ctx, folder):
        raise OCFError(OCF_ERR_INSTALLED, f"{folder} is not listed in alternate_config_directories "
                       f"or multi_instance_directories of {DEFAULT_CONFIG_DIR}/main.cf")
    if ctx.action == "validate-all":
        _check(ctx)
    return OCF_SUCCESS


def _up(ctx, queue: str) -> str | None:
    """None once the instance serves, else what is still missing."""
    if master_pid(queue) is None:
        return "no master process"
    if ctx.params["smtp_address"]:
        try:
            smtp_probe(ctx)
        except OCFError as exc:
            return exc.reason
    return None


@AGENT.action("start", timeout=60)
def start(ctx) -> int:
    import time
    from pacemail.proc import CommandError
    queue = queue_dir(ctx)
    if master_pid(queue) is not None:
        ctx.log.info(f"postfix {config_dir(ctx)} is already running")
        return OCF_SUCCESS
    # `postfix start` runs the integrity check first: 0.2 s of every failover. Once the
    # queue has its directories (the check creates missing ones: a new queue needs it),
    # start skips it the way `postfix quick-stop` makes the next start skip it:
    # postfix-script sees quick-start in the queue directory, removes it, and starts the
    # master at once. validate-all and depth-20 monitors still run `postfix check`.
    if all(os.path.isdir(os.path.join(queue, d)) for d in QUEUE_DIRS):
        with open(os.path.join(queue, QUICK_START), "a"):
            pass
    try:
        postfix(ctx, "start")
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"postfix start failed: {exc}") from None
    while True:
        missing = _up(ctx, queue)
        if missing is None:
            return OCF_SUCCESS
        if ctx.remaining() < POLL_S:
            raise OCFError(OCF_ERR_GENERIC, f"postfix {config_dir(ctx)} did not come up within "
                           f"the start timeout: {missing}")
        time.sleep(POLL_S)


@AGENT.action("reload", timeout=20)
def reload(ctx) -> int:
    from pacemail.proc import CommandError
    if master_pid(queue_dir(ctx)) is None:
        return OCF_NOT_RUNNING
    try:
        postfix(ctx, "reload")
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"postfix reload failed: {exc}") from None
    return OCF_SUCCESS


# -- stop ----------------------------------------------------------------------------

def _daemon_dir(ctx) -> str:
    from pacemail.proc import CommandError
    try:
        return postconf.value(config_dir(ctx), "daemon_directory", _postconf(ctx))
    except (OSError, CommandError) as exc:
        ctx.log.warning(f"daemon_directory unknown ({exc}): assuming {DEFAULT_DAEMON_DIR}")
        return DEFAULT_DAEMON_DIR


@AGENT.action("stop", timeout=60)
def stop(ctx) -> int:
    try:
        queue = queue_dir(ctx)
    except OSError as exc:
        ctx.log.info(f"{config_dir(ctx)}/main.cf: {exc.strerror or exc}: nothing of it runs here")
        return OCF_SUCCESS
    bindir = _daemon_dir(ctx)

    def find():
        pid = master_pid(queue)
        return pid, daemons.members(pid, queue, bindir)
    base = postfix_argv(ctx)
    daemons.stop(ctx, f"postfix {config_dir(ctx)}", [base + ["stop"], base + ["abort"]], find,
                 float(ctx.params["stop_grace"]))
    return OCF_SUCCESS
