"""ocf:pacemail:mount: a filesystem mount, a drop-in for ocf:heartbeat:Filesystem.

Parameters keep Filesystem's names, meanings and defaults, and exit codes are
Filesystem's in every case resource-agents' ocft suite sets up
(tests/test_agents_ocft.py). The mount point is compared with the mount table
with its symlinks resolved (/var/run/x is mounted at /run/x), as Filesystem's
``readlink -f`` does, but without a stat of the mount point itself
(:func:`pacemail.agents.mounts.resolved`). Differences on purpose:
- the monitor reads /proc/self/mountinfo and compares device numbers, so a
  different device on the mount point is not taken for ours;
- stop finds the processes holding the filesystem by device number (cwd,
  root, open files, mappings), never by path text, so nothing outside the
  mount is killed; it sends TERM, then KILL, in steps that fit inside the
  stop timeout instead of retrying until Pacemaker kills the agent;
- ``drbd_resource`` refuses to mount unless that DRBD resource is Primary here.
"""

from __future__ import annotations

import os

from pacemail.agents import mounts
from pacemail.agents.ocf import (
    OCF_ERR_CONFIGURED, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS,
    Agent, OCFError, Param, show,
)

CLUSTER_FSTYPES = frozenset({"gfs2", "ocfs2", "nfs", "nfs4", "cifs", "smbfs", "glusterfs",
                             "ceph", "tmpfs", "none"})
FSCK_FSTYPES = "ext2,minix"
SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,=_.:/@+-")
BLOCK = 4096
KILL_WAIT_S = 2.0  # after SIGKILL only the kernel is left to wait for
FSCK_SERIOUS = 4  # fsck exit codes from 4 on: errors left uncorrected
BLKFLSBUF = 0x1261  # _IO(0x12, 97)


def _check_device(text: str) -> None:
    if text.startswith(("UUID=", "LABEL=")) or text.startswith("/") or ":" in text:
        if all(c in SAFE_CHARS for c in text.split("=", 1)[-1]):
            return
    raise ValueError("is not a device path, UUID=..., LABEL=... or host:/export "
                     "(letters, digits and ,=_.:/@+- only)")


def _check_directory(text: str) -> None:
    if not text.startswith("/") or text.rstrip("/") == "" or \
            any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("is not an absolute path below / without spaces or control characters")


def _check_fstype(text: str) -> None:
    if not all(c.isascii() and (c.isalnum() or c in "._-") for c in text):
        raise ValueError("is not a filesystem type name")


def _check_options(text: str) -> None:
    if not all(c in SAFE_CHARS for c in text):
        raise ValueError("may hold only letters, digits and ,=_.:/@+-")


def _check_relative(text: str) -> None:
    if text.startswith("/") or ".." in text.split("/") or not all(c in SAFE_CHARS for c in text):
        raise ValueError("is not a relative path inside the mount")


def _check_fstype_list(text: str) -> None:
    for name in text.split(","):
        if name:
            _check_fstype(name)


def _check_drbd(text: str) -> None:
    if not all(c.isascii() and (c.isalnum() or c in "_-.") for c in text):
        raise ValueError("is not a DRBD resource name")


def _check_positive(value: int) -> None:
    if value < 1:
        raise ValueError("must be at least 1")


AGENT = Agent(
    name="mount",
    version="1.0",
    shortdesc="Filesystem mount (drop-in for Filesystem)",
    longdesc=(
        "Mounts a filesystem on a directory, after an fsck where the policy asks for one "
        "and, with drbd_resource, only where that DRBD resource is Primary. Stop "
        "unmounts, ending the processes that hold the filesystem with TERM and then "
        "KILL within the stop timeout. Monitor depth 0 checks the mount table, depth "
        "10 reads a block of the device directly, depth 20 writes, syncs and reads "
        "back a status file on the filesystem. Parameters follow ocf:heartbeat:Filesystem."
    ),
    params=[
        Param("device", required=True, check=_check_device, shortdesc="block device",
              longdesc="The device to mount: a path (/dev/..., /dev/disk/by-uuid/... "
                       "preferred), UUID=..., LABEL=..., or host:/export for NFS."),
        Param("directory", required=True, unique_group="directory", check=_check_directory,
              shortdesc="mount point", longdesc="The directory to mount on (created if missing)."),
        Param("fstype", required=True, check=_check_fstype, shortdesc="filesystem type",
              longdesc="The filesystem type, e.g. ext4 or xfs."),
        Param("options", check=_check_options, shortdesc="mount options",
              longdesc="Options passed to mount -o, e.g. noatime,nodev."),
        Param("statusfile_prefix", default=".Filesystem_status/", check=_check_relative,
              shortdesc="status file prefix for depth 20",
              longdesc="Path, relative to the mount point, of the status file the depth 20 "
                       "monitor writes; the node name is appended."),
        Param("run_fsck", values=("auto", "force", "no"), default="auto",
              shortdesc="when to fsck before mounting",
              longdesc="auto: fsck -p when fstype is in fsck_fstypes; force: always; no: never."),
        Param("fsck_fstypes", default=FSCK_FSTYPES, check=_check_fstype_list,
              shortdesc="filesystem types run_fsck=auto checks",
              longdesc="Comma-separated filesystem types that get fsck -p before mounting "
                       "with run_fsck=auto. Journaling filesystems (ext3/4, xfs, btrfs) "
                       "recover on mount and are left out by default."),
        Param("fast_stop", "boolean", default=False, shortdesc="fast stop",
              longdesc="true: holders get a shorter TERM grace (1 s) before KILL."),
        Param("force_clones", "boolean", default=False, shortdesc="allow clones",
              longdesc="Allow cloning a mount of a non-cluster filesystem (ext4, xfs...) "
                       "on several nodes. Only for setups that really share nothing."),
        Param("force_unmount", values=("true", "safe", "false"), default="true",
              shortdesc="end processes holding the filesystem",
              longdesc="true or safe: send TERM, then KILL, to processes whose cwd, root, "
                       "open files or mappings are on the filesystem (both work without "
                       "calls that could block on a dead device); false: never, a busy "
                       "filesystem fails the stop."),
        Param("stop_grace", "integer", default=5, check=_check_positive,
              shortdesc="seconds holders get after TERM",
              longdesc="How long stop waits after TERM before KILL; capped at a third of "
                       "the stop timeout so the escalation always fits."),
        Param("drbd_resource", check=_check_drbd, shortdesc="DRBD resource that must be Primary",
              longdesc="If set, start refuses to mount unless `drbdadm role` reports this "
                       "DRBD resource Primary on this node."),
    ],
)


# -- reading the node -----------------------------------------------------------

def mount_point(ctx, table: list[mounts.Mount]) -> str:
    """The directory parameter as ``table`` lists it: symlinks resolved (mounts.resolved)."""
    return mounts.resolved(ctx.params["directory"], table)


def device_path(spec: str) -> str:
    """The path of a device given as UUID=/LABEL= or as a path; network sources unchanged."""
    for prefix, folder in (("UUID=", "/dev/disk/by-uuid/"), ("LABEL=", "/dev/disk/by-label/")):
        if spec.startswith(prefix):
            return folder + spec[len(prefix):]
    return spec


def block_device(ctx) -> int | None:
    """The device number of the device parameter if it is a block device here, else None."""
    import stat
    try:
        st = os.stat(device_path(ctx.params["device"]))
    except OSError:
        return None
    return st.st_rdev if stat.S_ISBLK(st.st_mode) else None


def is_ours(mount: mounts.Mount, ctx) -> bool:
    rdev = block_device(ctx)
    if rdev is not None:
        return mount.dev == rdev
    return mount.source == ctx.params["device"]


@AGENT.running_check
def is_running(ctx) -> bool:
    table = mounts.table()
    return mounts.at(table, mount_point(ctx, table)) is not None


# -- monitor ---------------------------------------------------------------------

def read_device_block(path: str) -> None:
    """One O_DIRECT read of the device's first block (bypasses the page cache)."""
    import mmap
    buf = mmap.mmap(-1, BLOCK)  # page aligned, as O_DIRECT requires
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    try:
        if os.readv(fd, [buf]) <= 0:
            raise OSError("short read")
    finally:
        os.close(fd)
        buf.close()


def write_status(path: str, text: str) -> None:
    """Write, fsync and read back ``text`` at ``path``: the filesystem takes writes."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        if f.read() != data:
            raise OSError("read back something else than was written")


def status_file(ctx, where: str) -> str:
    return os.path.join(where, ctx.params["statusfile_prefix"] + (ctx.node or os.uname().nodename))


@AGENT.action("monitor", timeout=40, interval=20, depth=0)
def monitor(ctx) -> int:
    table = mounts.table()
    where = mount_point(ctx, table)
    mount = mounts.at(table, where)
    if mount is None:
        return OCF_NOT_RUNNING
    if not is_ours(mount, ctx):
        ctx.log.warning(f"{where} holds {mount.source}, not {ctx.params['device']}")
        return OCF_NOT_RUNNING
    if ctx.check_level >= 20:
        path = status_file(ctx, where)
        try:
            write_status(path, (ctx.instance or "mount") + "\n")
        except OSError as exc:
            raise OCFError(OCF_ERR_GENERIC, f"{where} does not take writes: status file "
                           f"{path}: {exc.strerror or exc}") from None
    elif ctx.check_level >= 10 and block_device(ctx) is not None:
        try:
            read_device_block(device_path(ctx.params["device"]))
        except OSError as exc:
            raise OCFError(OCF_ERR_GENERIC, f"cannot read device {ctx.params['device']}: "
                           f"{exc.strerror or exc}") from None
    return OCF_SUCCESS


# -- validate, start --------------------------------------------------------------

def _kernel_fstypes() -> set[str]:
    with open("/proc/filesystems", encoding="ascii") as f:
        return {line.split()[-1] for line in f if line.strip()}


@AGENT.action("validate-all", timeout=20)
def validate(ctx) -> int:
    fstype = ctx.params["fstype"]
    if ctx.clone is not None and fstype not in CLUSTER_FSTYPES and not ctx.params["force_clones"]:
        raise OCFError(OCF_ERR_CONFIGURED, f"{fstype} is not a cluster filesystem: cloning this "
                       "mount would corrupt it (set force_clones=true only if nothing is shared)")
    if fstype not in CLUSTER_FSTYPES and fstype not in _kernel_fstypes():
        raise OCFError(OCF_ERR_INSTALLED, f"this kernel does not support filesystem type {fstype} "
                       "(not in /proc/filesystems)")
    device = device_path(ctx.params["device"])
    if device.startswith("/") and block_device(ctx) is None and fstype not in CLUSTER_FSTYPES:
        raise OCFError(OCF_ERR_INSTALLED, f"device {show(device)} is not a block device on this node")
    return OCF_SUCCESS


def drbd_role(ctx, resource: str) -> str:
    """This node's role of a DRBD resource as drbdadm reports it (Primary, Secondary...)."""
    from pacemail.proc import CommandError
    try:
        out = ctx.run(["drbdadm", "role", resource], timeout=10).stdout
    except CommandError as exc:
        code = OCF_ERR_INSTALLED if exc.returncode is None and exc.timeout is None else OCF_ERR_GENERIC
        raise OCFError(code, f"cannot read the role of DRBD resource {resource}: {exc}") from None
    return out.strip().split("/")[0]  # 8.4 prints Primary/Secondary (local/peer)


def fsck_wanted(params) -> bool:
    policy = params["run_fsck"]
    return policy == "force" or (policy == "auto" and
                                 params["fstype"] in params["fsck_fstypes"].split(","))


@AGENT.action("start", timeout=60)
def start(ctx) -> int:
    from pacemail.proc import CommandError
    p, table = ctx.params, mounts.table()
    where = mount_point(ctx, table)
    mount = mounts.at(table, where)
    if mount is not None:
        if is_ours(mount, ctx):
            ctx.log.info(f"{p['device']} is already mounted on {where}")
            return OCF_SUCCESS
        raise OCFError(OCF_ERR_GENERIC, f"{where} already holds {mount.source} ({mount.fstype}), "
                       f"not {p['device']}: refusing to mount over it")
    if p["drbd_resource"]:
        role = drbd_role(ctx, p["drbd_resource"])
        if role != "Primary":
            raise OCFError(OCF_ERR_GENERIC, f"DRBD resource {p['drbd_resource']} is {role or 'unknown'} "
                           "here, not Primary: refusing to mount")
    device = device_path(p["device"])
    if fsck_wanted(p):
        ctx.log.info(f"checking {device} (fsck -p)")
        done = ctx.run(["fsck", "-t", p["fstype"], "-p", device], check=False)
        if done.returncode >= FSCK_SERIOUS:
            raise OCFError(OCF_ERR_GENERIC, f"fsck of {device} exited {done.returncode}: "
                           "errors left uncorrected, not mounting")
    os.makedirs(where, exist_ok=True)
    argv = ["mount", "-t", p["fstype"]] + (["-o", p["options"]] if p["options"] else [])
    try:
        ctx.run(argv + ["--", device, where])
    except CommandError as exc:
        raise OCFError(OCF_ERR_GENERIC, f"cannot mount {device} on {where}: {exc}") from None
    mount = mounts.at(mounts.table(), where)
    if mount is None or not is_ours(mount, ctx):
        raise OCFError(OCF_ERR_GENERIC, f"mount reported success but {where} does not hold {device}")
    return OCF_SUCCESS


# -- stop --------------------------------------------------------------------------

def _umount(ctx, mountpoint: str) -> str | None:
    """Unmount once; None on success, else why not."""
    from pacemail.proc import CommandError
    try:
        ctx.run(["umount", "--", mountpoint], timeout=max(1.0, ctx.remaining() / 2))
        return None
    except CommandError as exc:
        return str(exc)


def _flush(path: str) -> None:
    """Write back and drop the device's buffers (BLKFLSBUF) once nothing has it mounted."""
    import fcntl
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, BLKFLSBUF)
    finally:
        os.close(fd)


def _free(ctx, mount: mounts.Mount) -> None:
    """Unmount ``mount``, ending its holders with TERM then KILL within the time left."""
    import signal
    from pacemail.agents import holders
    why = _umount(ctx, mount.mountpoint)
    if why is None:
        return
    if ctx.params["force_unmount"] == "false":
        busy = holders.find(mount.dev)
        raise OCFError(OCF_ERR_GENERIC, f"cannot unmount {mount.mountpoint} ({why}); held by "
                       f"{holders.describe(busy) or 'no process'} and force_unmount=false")
    grace = 1.0 if ctx.params["fast_stop"] else float(ctx.params["stop_grace"])
    for sig, wait_s in ((signal.SIGTERM, min(grace, ctx.remaining() / 3)),
                        (signal.SIGKILL, min(KILL_WAIT_S, ctx.remaining() / 3))):
        busy = holders.find(mount.dev)
        if busy:
            ctx.log.warning(f"{mount.mountpoint} is busy: sending {sig.name} to "
                            f"{holders.describe(busy)}")
            holders.signal_and_wait(busy, sig, wait_s)
        why = _umount(ctx, mount.mountpoint)
        if why is None:
            return
    left = holders.find(mount.dev)
    raise OCFError(OCF_ERR_GENERIC, f"cannot unmount {mount.mountpoint}: {why}; still held by "
                   f"{holders.describe(left) or 'no process (kernel users: swap, loop, nfsd?)'}")


@AGENT.action("stop", timeout=60)
def stop(ctx) -> int:
    table = mounts.table()
    where = mount_point(ctx, table)
    top = mounts.at(table, where)
    if top is None:
        return OCF_SUCCESS
    if not is_ours(top, ctx):
        ctx.log.warning(f"{where} holds {top.source}, not {ctx.params['device']}: left alone")
        return OCF_SUCCESS
    for mount in mounts.under(table, where):  # submounts first
        ctx.log.info(f"unmounting {mount.source} from {mount.mountpoint}")
        _free(ctx, mount)
    if block_device(ctx) is not None:
        _flush(device_path(ctx.params["device"]))
    return OCF_SUCCESS
