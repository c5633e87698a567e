"""ocf:pacemail:drbd: a DRBD resource as a promotable clone, a drop-in for ocf:linbit:drbd.

One agent for both DRBD generations: DRBD 9 is read with one ``drbdsetup
status RES --json`` per monitor; DRBD 8.4 (Debian 12's kernel module) from
``/proc/drbd`` (or ``drbdadm role/cstate/dstate`` where there is none). The
promotion score follows the disk states (see :mod:`pacemail.agents.drbd_policy`)
and is written with ``crm_attribute --promotion`` only when it changed (the
last value is kept in /run; :mod:`pacemail.pacemaker.attributes` is imported
only then). Promotion needs DRBD's quorum and the quorum guard's consent
(:func:`pacemail.fencing.guard.may_take_over`).

Parameters keep ocf:linbit:drbd's names for what this agent does; LINBIT's
other options (remove_master_score_if_peer_primary, unfence_if_all_uptodate,
connect_only_after_promote, ...) are not accepted.
"""

from __future__ import annotations

import os
import time

from pacemail.agents import drbd_policy as policy
from pacemail.agents import drbd_status as status
from pacemail.agents.mailchecks import check_path
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_FAILED_PROMOTED,
    OCF_NOT_RUNNING, OCF_SUCCESS, Agent, OCFError, Param, run_dir,
)

CACHE_DIR = "pacemail-drbd"  # in ocf.run_dir
PROC = "/proc/drbd"
SYS_VERSION = "/sys/module/drbd/version"
# drbdsetup/drbdadm exit code for a resource or minor the kernel does not know
NO_SUCH_RESOURCE = 10
RETRY_S = 1.0
# The kernel takes a resource name of at most 127 bytes (ctx_resource_name: a
# 128-byte NUL-terminated string in the DRBD netlink API, drbd_genl.h).
NAME_MAX = 127


def _check_name(text: str) -> None:
    """Letters, digits, '_', '-', '.': names DRBD takes (no '/', blanks or control characters),
    not starting with '-' (drbdadm would read an option) or '.', within the kernel's length."""
    if not all(c.isascii() and (c.isalnum() or c in "_-.") for c in text) or text[0] in "-.":
        raise ValueError("is not a DRBD resource name (letters, digits, '_', '-', '.')")
    if len(text) > NAME_MAX:
        raise ValueError(f"is longer than DRBD's {NAME_MAX} characters for a resource name")


def _not_negative(value: int) -> None:
    if value < 0:
        raise ValueError("must not be negative")


def _version(text: str) -> tuple[int, ...]:
    found = status.parse_version(text)
    if found is None:
        raise ValueError("is not a version x.y.z")
    return found


AGENT = Agent(
    name="drbd",
    version="1.0",
    shortdesc="DRBD resource as a promotable clone (drop-in for ocf:linbit:drbd)",
    longdesc=(
        "Brings a DRBD resource up (Secondary) on start, makes it Primary on promote "
        "and takes it down on stop. Works with DRBD 9 and with DRBD 8.4 (the module "
        "of Debian's kernel); the kernel module's version is detected. The monitor "
        "reports 8 (Primary), 0 (Secondary), 7 (down), 9 (Primary without access to "
        "UpToDate data) and 190/191 when redundancy is degraded (a peer disconnected "
        "or not UpToDate, a local volume not UpToDate, no DRBD quorum). The promotion "
        "score follows the disk states: UpToDate high, Consistent low, anything else "
        "none, and none without DRBD quorum. Promotion is refused without DRBD quorum "
        "and while the node's cluster partition may not take over (no corosync quorum, "
        "or a two_node peer not confirmed fenced). Run it as a promotable clone with "
        "notify=true and configure DRBD fencing (fencing resource-and-stonith, the "
        "fence-peer and unfence-peer handlers of 'pacemail fencing')."
    ),
    params=[
        Param("drbd_resource", required=True, unique_group="drbd_resource", check=_check_name,
              shortdesc="DRBD resource name",
              longdesc="The name of the resource in the DRBD configuration."),
        Param("drbdconf", check=check_path, shortdesc="Path to drbd.conf",
              longdesc="The DRBD configuration file drbdadm reads. Empty: drbdadm's default "
                       "(/etc/drbd.conf)."),
        Param("adjust_master_score", default=policy.DEFAULT_SCORES, check=policy.parse_scores,
              shortdesc="Promotion scores",
              longdesc="Four non-decreasing promotion scores, as in ocf:linbit:drbd: only "
                       "Consistent data; only remote access to UpToDate data (a sync target "
                       "or diskless client; LINBIT's default is 10, ours 0 so a sync target "
                       "is never promoted); local UpToDate data with a peer's state unknown; "
                       "local UpToDate data and Primary or every peer known. A score of 0 "
                       "or less removes the node's promotion score."),
        Param("wfc_timeout", "integer", default=5, check=_not_negative,
              shortdesc="Wait for connections on start",
              longdesc="Seconds start waits for the connections to every peer, so the first "
                       "promotion score knows the peers' disks. 0: do not wait."),
        Param("ignore_missing_notifications", "boolean", default=False,
              shortdesc="Allow notify=false",
              longdesc="After a start the agent reconnects peers and refreshes its score "
                       "on notifications, so the clone must have notify=true unless this "
                       "is true."),
        Param("require_drbd_module_version_ge", default="8.4.0", check=_version,
              shortdesc="Lowest accepted DRBD module version",
              longdesc="validate-all (and so start and promote) fail with 'not installed' "
                       "when the loaded DRBD module is older than this (x.y.z)."),
        Param("require_drbd_module_version_lt", default="10.0.0", check=_version,
              shortdesc="First rejected DRBD module version",
              longdesc="validate-all fails with 'not installed' when the loaded DRBD module "
                       "is this version (x.y.z) or newer; 9.0.0 requires DRBD 8.4."),
    ],
)


# -- reading DRBD ---------------------------------------------------------------

def _adm(ctx, *args) -> list[str]:
    conf = ctx.params["drbdconf"]
    return ["drbdadm", *([f"--config-file={conf}"] if conf else []), *args]


def _cache(ctx, what: str) -> str:
    return f"{run_dir(CACHE_DIR)}/{ctx.params['drbd_resource']}.{what}"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="ascii") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _failure(done) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


def kernel_version(ctx, proc_text: str | None, fresh: bool = False):
    """The DRBD module's version: /proc/drbd, sysfs, else ``drbdadm --version`` (cached in
    :func:`~pacemail.agents.ocf.run_dir`); OCFError(5) when drbdadm does not answer."""
    if proc_text:
        return status.version_from_proc(proc_text.split("\n", 1)[0])
    sysfs = _read(SYS_VERSION)
    if sysfs:
        return status.parse_version(sysfs)
    cached = None if fresh else _read(_cache(ctx, "kernel"))
    if cached:
        return status.parse_version(cached)
    from pacemail.proc import CommandError
    try:
        done = ctx.run(_adm(ctx, "--version"), timeout=10, check=False)
    except CommandError as exc:  # drbdadm missing or hanging: a probe says "not running"
        raise OCFError(OCF_ERR_INSTALLED, f"drbdadm does not answer on this node: {exc}") from None
    found = status.version_from_drbdadm(done.stdout)
    if found:
        _write(_cache(ctx, "kernel"), status.show_version(found))
    return found


def read_state(ctx, fresh: bool = False):
    """(State or None, module version or None) of the resource on this node."""
    proc_text = _read(PROC)
    version = kernel_version(ctx, proc_text, fresh)
    if version is None:
        ctx.log.debug("no DRBD kernel module: not running")
        return None, None
    shown = status.show_version(version)
    if version[0] >= 9:
        ctx.log.debug(f"DRBD {shown}: reading drbdsetup status --json")
        return _state_9(ctx), version
    if proc_text:
        ctx.log.debug(f"DRBD {shown}: reading {PROC}")
        return status.from_proc(proc_text, _minors(ctx, fresh)), version
    ctx.log.debug(f"DRBD {shown} without {PROC}: reading drbdadm cstate/role/dstate")
    return _state_84_drbdadm(ctx), version


def _state_9(ctx):
    res = ctx.params["drbd_resource"]
    done = ctx.run(["drbdsetup", "status", res, "--json"], timeout=10, check=False)
    if done.returncode == NO_SUCH_RESOURCE:
        return None
    if done.returncode != 0:
        raise OCFError(OCF_ERR_GENERIC, f"drbdsetup status {res} failed: {_failure(done)}")
    import json
    try:
        return status.from_json(json.loads(done.stdout), res)
    except (ValueError, AttributeError) as exc:
        raise OCFError(OCF_ERR_GENERIC, f"drbdsetup status {res} --json: unreadable "
                       f"output ({exc})") from None


def _minors(ctx, fresh: bool) -> list[int]:
    cached = None if fresh else _read(_cache(ctx, "minors"))
    if not cached:
        res = ctx.params["drbd_resource"]
        done = ctx.run(_adm(ctx, "sh-minor", res), timeout=10, check=False)
        if done.returncode != 0:
            raise OCFError(OCF_ERR_INSTALLED, f"drbdadm sh-minor {res}: {_failure(done)}")
        cached = done.stdout
        _write(_cache(ctx, "minors"), cached)
    return [int(w) for w in cached.split() if w.isdigit()]


def _state_84_drbdadm(ctx):
    res = ctx.params["drbd_resource"]
    words = []
    for command in ("cstate", "role", "dstate"):
        done = ctx.run(_adm(ctx, command, res), timeout=10, check=False)
        if done.returncode == NO_SUCH_RESOURCE:
            return None
        if done.returncode != 0:
            raise OCFError(OCF_ERR_GENERIC, f"drbdadm {command} {res} failed: {_failure(done)}")
        words.append(done.stdout.strip().split("\n")[0])
    return status.from_84(*words)


# -- the promotion score ----------------------------------------------------------

def publish(ctx, state, force: bool = False) -> None:
    """Set or delete this node's promotion score as the state says; skip when unchanged.

    The last score (and the degradations last logged) live in /run; ``force``
    writes the score even when the cache says it is there (start, promote and
    probes, so a score lost with a Pacemaker restart comes back).
    """
    wanted = policy.score_for(state, ctx.params["adjust_master_score"])  # parsed by its check
    if wanted == policy.KEEP:
        return
    text = "none" if wanted is None else str(wanted)
    path = _cache(ctx, "score")
    cached = _read(path)
    if not force and cached == text:
        return
    from pacemail.pacemaker.attributes import set_promotion

    failure = set_promotion(wanted, run=ctx.run)
    if failure:
        ctx.log.error(f"could not set the promotion score to {text}: {failure}")
        return
    if cached != text:
        ctx.log.info(f"promotion score {text}" + (
            "" if state is None else f" (role {state.role}, disk {'/'.join(state.disks)}"
            f"{'' if state.quorum is not False else ', no DRBD quorum'})"))
    _write(path, text)


def _forget_score(ctx) -> None:
    from pacemail.pacemaker.attributes import set_promotion

    set_promotion(None, run=ctx.run)
    try:
        os.unlink(_cache(ctx, "score"))
    except FileNotFoundError:
        pass


def _note(ctx, problems: str) -> None:
    """Log a change of what degrades the resource (not every monitor)."""
    path = _cache(ctx, "degraded")
    if (_read(path) or "") == problems:
        return
    if problems:
        ctx.log.warning(f"degraded: {problems}")
    else:
        ctx.log.info("fully redundant again")
    _write(path, problems)


# -- actions ------------------------------------------------------------------------

@AGENT.running_check
def is_running(ctx) -> bool:
    return read_state(ctx)[0] is not None


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    clone = ctx.clone
    if clone is not None:
        if (clone.node_max or 1) != 1 or (clone.promoted_node_max or 1) != 1:
            raise OCFError(OCF_ERR_CONFIGURED, "clone-node-max and promoted-node-max must be 1")
        if not clone.notify and not ctx.params["ignore_missing_notifications"]:
            raise OCFError(OCF_ERR_CONFIGURED, "the clone needs notify=true (or set "
                           "ignore_missing_notifications=true)")
    version = kernel_version(ctx, _read(PROC), fresh=True)
    if version is not None:
        low = ctx.params["require_drbd_module_version_ge"]  # parsed by _version
        high = ctx.params["require_drbd_module_version_lt"]
        if not low <= version < high:
            raise OCFError(OCF_ERR_INSTALLED, f"DRBD module {status.show_version(version)} is "
                           f"not in [{status.show_version(low)}, {status.show_version(high)})")
    return OCF_SUCCESS


@AGENT.action("start", timeout=240)
def start(ctx) -> int:
    res = ctx.params["drbd_resource"]
    if _read(PROC) is None and _read(SYS_VERSION) is None:
        _load_module(ctx)
    state, version = read_state(ctx, fresh=True)
    if state is not None and state.primary:
        ctx.log.warning(f"{res} is already Primary here: demoting")
        _secondary(ctx)
    elif state is None:
        done = ctx.run(_adm(ctx, "up", res), timeout=max(1.0, ctx.remaining()), check=False)
        if done.returncode != 0:
            code = OCF_ERR_INSTALLED if "not defined in your config" in _failure(done) \
                else OCF_ERR_GENERIC
            raise OCFError(code, f"drbdadm up {res} failed: {_failure(done)}")
    state = _wait_for_peers(ctx, ctx.params["wfc_timeout"])
    if state is None:
        raise OCFError(OCF_ERR_GENERIC, f"{res} is not running after drbdadm up")
    ctx.log.info(f"{res} up on DRBD {status.show_version(version) if version else '?'}: "
                 f"role {state.role}, disk {'/'.join(state.disks)}")
    publish(ctx, state, force=True)
    return OCF_SUCCESS


def _load_module(ctx) -> None:
    """``modprobe drbd``; a failure is left for ``drbdadm up`` to report."""
    from pacemail.proc import CommandError
    try:
        done = ctx.run(["modprobe", "-q", "drbd"], timeout=30, check=False)
        ctx.log.debug(f"modprobe drbd exited {done.returncode}")
    except CommandError as exc:
        ctx.log.debug(f"modprobe drbd: {exc}")


def _wait_for_peers(ctx, seconds: int):
    """The state once every peer is connected, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        state, _ = read_state(ctx)
        if state is None or state.peers and all(p.connected for p in state.peers) \
                or time.monotonic() >= deadline or ctx.remaining() < 2 * RETRY_S:
            return state
        time.sleep(RETRY_S / 2)


@AGENT.action("stop", timeout=100)
def stop(ctx) -> int:
    res = ctx.params["drbd_resource"]
    state, _ = read_state(ctx)
    if state is not None and state.primary:
        ctx.log.warning(f"{res} still Primary on stop: demoting first")
        _secondary(ctx)
    _retried(ctx, "down", done_anyway=lambda: read_state(ctx)[0] is None)
    _forget_score(ctx)
    return OCF_SUCCESS


def _secondary(ctx) -> None:
    """``drbdadm secondary``, retried while the device is still held open."""
    _retried(ctx, "secondary")


def _retried(ctx, command: str, final=lambda reason: False, done_anyway=lambda: False) -> None:
    """``drbdadm COMMAND RES`` until it succeeds or the operation's time is up.

    ``final(reason)`` says a failure will not go away by waiting; ``done_anyway()``
    that the goal is reached although the command failed. A changed reason is
    logged once, not every second.
    """
    res = ctx.params["drbd_resource"]
    last = None
    while True:
        done = ctx.run(_adm(ctx, command, res), timeout=max(1.0, ctx.remaining()), check=False)
        if done.returncode == 0 or done_anyway():
            return
        reason = _failure(done)
        if final(reason) or ctx.remaining() < 2 * RETRY_S:
            raise OCFError(OCF_ERR_GENERIC, f"drbdadm {command} {res} failed: {reason}")
        if reason != last:
            ctx.log.warning(f"drbdadm {command} {res}: {reason}; retrying until the timeout")
            last = reason
        time.sleep(RETRY_S)


@AGENT.action("promote", timeout=90)
def promote(ctx) -> int:
    res = ctx.params["drbd_resource"]
    state, _ = read_state(ctx)
    if state is not None and state.primary:
        publish(ctx, state, force=True)
        return OCF_SUCCESS
    refusal = policy.promotion_refusal(state)
    if refusal:
        if state is not None:
            publish(ctx, state, force=True)
        raise OCFError(OCF_ERR_GENERIC, refusal)
    from pacemail.fencing.guard import may_take_over
    allowed, why = may_take_over(timeout=min(10.0, max(1.0, ctx.remaining())))
    if not allowed:
        raise OCFError(OCF_ERR_GENERIC, f"quorum guard: {why}; not promoting {res}")
    ctx.log.info(f"quorum guard: {why}")
    _retried(ctx, "primary", final=lambda reason: "UpToDate data" in reason)
    state, _ = read_state(ctx)
    publish(ctx, state, force=True)
    return OCF_SUCCESS


@AGENT.action("demote", timeout=90)
def demote(ctx) -> int:
    state, _ = read_state(ctx)
    if state is None:
        raise OCFError(OCF_NOT_RUNNING, f"{ctx.params['drbd_resource']} is not running here")
    if state.primary:
        _secondary(ctx)
        state, _ = read_state(ctx)
    publish(ctx, state, force=True)
    return OCF_SUCCESS


@AGENT.action("notify", timeout=90)
def notify(ctx) -> int:
    """After a start (a peer's or this node's): reconnect to a peer we had given up on and
    refresh the score. Every other notification does nothing.

    Four notifications stand between a fence and the mount on every failover (pre and
    post the lost node's demote, pre and post the promotion), so they cost nothing here.
    Nor do they write the promotion score: a transient attribute that changes while the
    failover's transition runs aborts it, and Pacemaker 2.1 then lost the result of the
    recurring monitor's cancel in three failovers of ten, and waited 80 s (its timeout plus
    cluster-delay) before promoting. Starts happen when nodes join, not on a failover's
    path; there the score follows the new peer at once, and the monitor keeps it current.
    """
    n = ctx.notify
    if (n.type, n.operation) != ("post", "start"):
        return OCF_SUCCESS
    state, _ = read_state(ctx)
    if state is None:   # not running here: never brought up by an adjust
        return OCF_SUCCESS
    res = ctx.params["drbd_resource"]
    done = ctx.run(_adm(ctx, "adjust", res), timeout=max(1.0, ctx.remaining()), check=False)
    if done.returncode != 0:
        ctx.log.warning(f"drbdadm adjust {res}: {_failure(done)}")
    state, _ = read_state(ctx)
    if state is not None:   # a resource that vanished is the monitor's to report
        publish(ctx, state)
    return OCF_SUCCESS


@AGENT.action("monitor", timeout=20, interval=31, promoted_interval=29, depth=0)
def monitor(ctx) -> int:
    state, _ = read_state(ctx)
    code, problems = policy.monitor_code(state)
    if state is None:
        if not ctx.is_probe:
            publish(ctx, None)
        return code
    if code == OCF_FAILED_PROMOTED:
        publish(ctx, state, force=True)
        raise OCFError(code, problems)
    publish(ctx, state, force=ctx.is_probe)
    _note(ctx, problems)
    return code
