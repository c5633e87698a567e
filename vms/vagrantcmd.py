"""Running ``vagrant`` itself: in pacemail's network namespace when it is up, bounded in time;
and the box added to Vagrant, replaced (with its volume in libvirt's pool) when it changes.

VAGRANT_HOME holds a marker, ``pacemail-box.key``: the key of the box added
last. A box is added only when the marker differs, so a boot reuses the box's
volume in libvirt's pool instead of uploading 1.24 GB again
(:mod:`pacemail.vms.pool`), and a changed box replaces both.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
import subprocess
from pathlib import Path

from pacemail.hostres import GIB, disk_usage, free_bytes, human
from pacemail.proc import run
from pacemail.runlock import hold
from pacemail.vms import box, netns, paths, pool
from pacemail.vms.deadline import Deadline

# Not measured here: the add copies the 1.26 GB box into Vagrant's tmp/ and unpacks it,
# about 2.5 GB written.
BOX_ADD_S = 180.0
ADD_FREE_B = 3 * GIB   # the copy in tmp/ and the unpacked box, 1.26 GB each, and a margin
BOX_REMOVE_S = 120.0
KILL_AFTER_S = 30      # timeout(1) sends SIGKILL this long after its SIGTERM
REAP_S = 10            # for timeout(1) to reap vagrant and exit
MARKER = "pacemail-box.key"
# What Vagrant leaves in VAGRANT_HOME/tmp when a box add is killed: the copy of the box
# (tmp/box<SHA1 of its URL>) and the half-unpacked box (Dir.mktmpdir's TEMP_PREFIX).
HOME_LEFTOVERS = ("box" + "[0-9a-f]" * 40, "vagrant-box-add-temp-*")


def vagrant_home(environ=os.environ) -> Path:
    """VAGRANT_HOME of the runs here: under the box cache, not ~/.vagrant.d.

    The box boots its kernel and initrd straight from the box's folder, and
    libvirt's qemu runs as libvirt-qemu, which cannot get through /root (0700).
    """
    return Path(environ.get("PACEMAIL_VAGRANT_HOME") or paths.cache_dir(environ) / "home")


def box_dir(environ=os.environ) -> Path:
    """Where Vagrant keeps our box (all its versions)."""
    return vagrant_home(environ) / "boxes" / paths.BOX_SLUG


def added_key(environ=os.environ) -> str | None:
    """The key of the box added to Vagrant by :func:`ensure_box`, or None."""
    try:
        key = (vagrant_home(environ) / MARKER).read_text().strip()
    except OSError:
        return None
    return key if box_dir(environ).is_dir() else None


def added_volume(environ=os.environ) -> str | None:
    """The pool volume vagrant-libvirt uses for the box added now (version 0), or None."""
    image = box_dir(environ) / "0" / "libvirt" / "box.img"
    try:
        return pool.box_volume(int(image.stat().st_mtime))
    except OSError:
        return None


def whole_volume(environ=os.environ) -> str | None:
    """:func:`added_volume`, unless its copy in the pool is cut short: vagrant-libvirt uploads
    box.img byte for byte, so a volume of another size is an upload that was killed (a
    VM booted on it would read a truncated image), and goes like a stale one."""
    name = added_volume(environ)
    image = box_dir(environ) / "0" / "libvirt" / "box.img"
    try:
        if (pool.pool_dir() / name).stat().st_size != image.stat().st_size:
            return None
    except (OSError, TypeError):
        pass   # no volume yet (vagrant up uploads it), or no box added
    return name


def ensure_box(box_file: Path, say=lambda m: None, environ=os.environ, wait: float = 0.0) -> bool:
    """Make ``box_file`` the box Vagrant boots; True when it was added now.

    Nothing to do when the marker names its key. Otherwise the old box's
    volumes leave libvirt's pool (refused while VMs made from it exist: their
    disks are overlays on it), then the box is added with --force, replacing
    the old one. Holds the VM side's run lock; takes at most BOX_ADD_S.
    """
    key = box.key_of(box_file)
    with hold(paths.LOCK, wait=wait):
        if added_key(environ) == key:
            return False
        d = Deadline(BOX_ADD_S, f"adding {box_file.name} to Vagrant")
        names = pool.volumes()
        if pool.vm_disks(names):
            raise RuntimeError(
                f"VMs made from the box added before still exist (their disks "
                f"{', '.join(pool.vm_disks(names))} in {pool.pool_dir()}): destroy them first "
                "(`pacemail vagrant run -- destroy -f`)")
        home = vagrant_home(environ)
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
        free = free_bytes(home)
        if free < ADD_FREE_B:
            raise RuntimeError(f"adding the box needs {human(ADD_FREE_B)} free under {home}; "
                               f"{human(free)} free")
        for name in pool.stale_box_volumes(names, current=None):
            pool.delete(name, timeout=d.left(netns.STEP_S))
            say(f"deleted the old box's volume {name} from libvirt's pool")
        (home / MARKER).unlink(missing_ok=True)
        run(["vagrant", "box", "add", "--force", "--name", paths.BOX_NAME, str(box_file)],
            timeout=d.left(), env={**environ, "VAGRANT_HOME": str(home)})
        (home / MARKER).write_text(key + "\n")
        say(f"added {box_file.name} to Vagrant as {paths.BOX_NAME}")
        return True


def home_leftovers(names: list[str]) -> list[str]:
    """Entries of VAGRANT_HOME/tmp a killed ``vagrant box add`` left behind."""
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in HOME_LEFTOVERS))


def prune(current_key: str | None, say=lambda m: None,
          environ=os.environ) -> list[tuple[Path, int]]:
    """Remove from VAGRANT_HOME and libvirt's pool what no boot of ``current_key`` (None:
    of no box) uses: a killed add's leftovers, the box added if it is not the current one,
    and box volumes other than the added box's. Boxes and box volumes stay while VM disks exist (a VM
    boots the added box's kernel and its disk is an overlay on a box volume).
    Paths removed, with the bytes each freed. The caller holds the run lock."""
    removed = []
    tmp = vagrant_home(environ) / "tmp"
    for name in home_leftovers(os.listdir(tmp) if tmp.is_dir() else []):
        path = tmp / name
        size = disk_usage(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        removed.append((path, size))
        say(f"removed {path} ({human(size)})")
    names = pool.volumes()
    if pool.vm_disks(names):
        return removed
    current = current_key is not None and added_key(environ) == current_key
    if box_dir(environ).is_dir() and not current:
        size = disk_usage(box_dir(environ))
        done = run(["vagrant", "box", "remove", "--force", "--all", paths.BOX_NAME],
                   timeout=BOX_REMOVE_S, check=False,
                   env={**environ, "VAGRANT_HOME": str(vagrant_home(environ))})
        if box_dir(environ).is_dir():
            say(f"kept {box_dir(environ)}: vagrant box remove: "
                f"{(done.stderr or done.stdout).strip()[-200:]}")
        else:
            (vagrant_home(environ) / MARKER).unlink(missing_ok=True)
            removed.append((box_dir(environ), size))
            say(f"removed the box added to Vagrant, {box_dir(environ)} ({human(size)})")
    for name in pool.stale_box_volumes(names, whole_volume(environ)):
        path = pool.pool_dir() / name
        size = disk_usage(path)
        pool.delete(name)
        removed.append((path, size))
        say(f"removed {path} ({human(size)})")
    return removed


def worst_s(timeout: float) -> float:
    """How long vagrant run by :func:`isolated` with ``timeout`` can last: timeout(1) sends
    SIGTERM at ``timeout``, SIGKILL KILL_AFTER_S later, then reaps it."""
    return timeout + KILL_AFTER_S + REAP_S


def isolated_env(environ=os.environ) -> dict[str, str]:
    """The environment of vagrant here: local box, libvirt (TCG), no NAT, and the fence key
    of the namespace's sshd (when `net up` made one) unless PACEMAIL_FENCE_KEY names another."""
    env = {**environ, "PACEMAIL_BOX": environ.get("PACEMAIL_BOX", "local"),
           "PACEMAIL_ISOLATED": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt",
           "VAGRANT_CWD": str(paths.vagrant_dir(environ)),
           "VAGRANT_HOME": str(vagrant_home(environ))}
    key = netns.fence_key(paths.state_dir(environ))
    if not environ.get("PACEMAIL_FENCE_KEY") and key.is_file():
        env["PACEMAIL_FENCE_KEY"] = str(key)
    return env


def isolated(args: list[str], timeout: int, environ=os.environ) -> tuple[list[str], dict]:
    """argv and environment running ``vagrant args`` in the namespace, bounded by ``timeout``."""
    argv = ["timeout", "--foreground", f"--kill-after={KILL_AFTER_S}", str(timeout),
            "ip", "netns", "exec", netns.NETNS, "vagrant", *args]
    return argv, isolated_env(environ)


def booting(args: list[str], nodes: tuple[str, ...]) -> list[str]:
    """The ``nodes`` that ``vagrant args`` boots: those named after ``up``, all of them for a
    plain ``up``, none for any other command."""
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] != "up":
        return []
    named = [n for n in words[1:] if n in nodes]
    return named or list(nodes)


def interactive(args: list[str], timeout: int, environ=os.environ) -> int:
    """Run ``vagrant args`` in the namespace on this terminal, bounded; its exit code.

    A child, not an exec, so a run lock of the caller lives exactly as long as
    vagrant does. proc.run captures or discards output; vagrant here talks to
    the user. Ctrl-C reaches vagrant itself (same process group) and is
    ignored here meanwhile, so vagrant's own cleanup is waited for.
    """
    argv, env = isolated(args, timeout, environ)
    child = subprocess.Popen(argv, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait(timeout=worst_s(timeout))
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
