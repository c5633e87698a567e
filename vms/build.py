"""Building the box from Debian packages: debootstrap, the shared install script, an image.

Stages, each cached on disk under :func:`pacemail.vms.paths.cache_dir`:
the debootstrap root file system (a tar keyed by :func:`box.base_key`), then
the box itself (keyed by :func:`box.box_key`), made by running
``vagrant/provision/install.sh`` and ``image.sh`` in a chroot of that root
file system, ``mke2fs -d`` into a raw image and ``qemu-img convert`` to qcow2.

The cache stays bounded: after a build only the current box and base tar
are left (:func:`prune`); a build starts only with the disk it needs free.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import sys
import tomllib
from contextlib import contextmanager
from pathlib import Path

from pacemail.hostres import GIB, disk_usage, free_bytes, human
from pacemail.proc import run
from pacemail.runlock import hold
from pacemail.vms import box, paths, vagrantcmd

DEBOOTSTRAP_S = 1800.0
INSTALL_S = 2400.0
STEP_S = 600.0
CHROOT_MOUNTS = (("proc", "proc", ["-t", "proc"]), ("sys", "sys", ["-t", "sysfs"]),
                 ("dev", "/dev", ["--bind"]), ("dev/pts", "/dev/pts", ["--bind"]))
# At its peak a build holds the base tar (0.9 GB), the root file system (about 1 GB
# and more once installed), the qcow2 image (1.24 GB) and the box tar (1.26 GB) at once;
# the raw image (sparse, as much as the root file system) comes and goes before the tar.
BUILD_FREE_B = 5 * GIB
# What the cache holds: its box files, base tars, their partial writes, build work trees.
CACHE_ITEMS = (("box", box.BOX_PREFIX + "*" + box.BOX_SUFFIX), ("base", "base-*.tar"),
               ("partial", "*.partial"), ("work", "work-*"))


def dependencies(checkout: Path) -> list[str]:
    with open(checkout / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def current_key() -> str:
    """The box key of the current inputs (this checkout's scripts and dependencies)."""
    return box.box_key(paths.provision_dir(), dependencies(paths.checkout()))


def cached_box(cache: Path | None = None) -> Path | None:
    """The box file for the current inputs, if it was built already."""
    found = box.box_file(cache or paths.cache_dir(), current_key())
    return found if found.is_file() else None


def build(cache: Path | None = None, say=lambda m: None, wait: float = 0.0) -> Path:
    """The box for the current inputs: from the cache, or built now (needs root).

    Refused before anything starts when the cache's file system has less than
    BUILD_FREE_B free; afterwards the cache holds this box and its base only.
    Holds the VM side's run lock (``wait`` seconds for another run).
    """
    cache = cache or paths.cache_dir()
    with hold(paths.LOCK, wait=wait):
        key = current_key()
        target = box.box_file(cache, key)
        if target.is_file():
            say(f"cached: {target}")
            return target
        short = build_shortfall(free_bytes(cache), cache, sum(size for _, size, stale in
                                                              cache_items(cache) if stale))
        if short:
            raise RuntimeError(short)
        cache.mkdir(parents=True, exist_ok=True)
        work = cache / f"work-{target.stem}"
        _remove(work)
        rootfs, out = work / "rootfs", work / "box"
        rootfs.mkdir(parents=True)
        out.mkdir()
        try:
            _base(cache, rootfs, say)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pacemail-box",
                 "-f", str(out / box.KEY)], timeout=30)
            say("installing the cluster packages and pacemail's dependencies in the image")
            _provision(rootfs, out / f"{box.KEY}.pub", dependencies(paths.checkout()))
            (rootfs / box.KEY_FILE.lstrip("/")).write_text(key + "\n")
            _image(rootfs, out, work)
            (out / "metadata.json").write_text(json.dumps(box.METADATA) + "\n")
            (out / "Vagrantfile").write_text(box.VAGRANTFILE)
            (out / f"{box.KEY}.pub").unlink()
            partial = target.with_suffix(".partial")
            run(["tar", "-C", str(out), "-cf", str(partial), "."], timeout=STEP_S)
            partial.rename(target)
        finally:
            _remove(work)
        say(f"built: {target}")
        prune(cache, say)
        return target


def build_shortfall(free: int, cache: Path, reclaimable: int) -> str | None:
    """Why a build cannot start with ``free`` bytes under ``cache``, or None."""
    if free >= BUILD_FREE_B:
        return None
    hint = f" (`pacemail vagrant box prune` frees {human(reclaimable)})" if reclaimable else ""
    return (f"a box build needs {human(BUILD_FREE_B)} free under {cache} (base tar, root file "
            f"system, images and the box at once); {human(free)} free{hint}")


def kind(name: str) -> str | None:
    """What a cache entry is ('box', 'base', 'partial', 'work'), or None for anything else."""
    for what, pattern in CACHE_ITEMS:
        if fnmatch.fnmatchcase(name, pattern):
            return what
    return None


def stale(names: list[str], keep: set[str]) -> list[str]:
    """The cache entries to remove: every box, base tar, partial write and work tree but
    those in ``keep`` (anything else in the cache is not the build's and stays)."""
    return sorted(n for n in names if kind(n) and n not in keep)


def keep_names(cache: Path) -> set[str]:
    """The entries a build of the current inputs uses: its box file and base tar."""
    return {box.box_file(cache, current_key()).name, box.base_file(cache).name}


def cache_items(cache: Path, keep: set[str] | None = None) -> list[tuple[Path, int, bool]]:
    """(path, bytes, stale) of each box, base tar, partial and work tree in ``cache``."""
    if not cache.is_dir():
        return []
    keep = keep_names(cache) if keep is None else keep
    names = sorted(os.listdir(cache))
    gone = set(stale(names, keep))
    return [(cache / n, disk_usage(cache / n), n in gone) for n in names if kind(n)]


def prune(cache: Path | None = None, say=lambda m: None, keep_current: bool = True,
          wait: float = 0.0) -> list[tuple[Path, int]]:
    """Remove stale boxes, base tars, partial writes and work trees from the cache (all of
    them without ``keep_current``), and what VAGRANT_HOME and libvirt's pool hold for boxes
    other than the current (:func:`vagrantcmd.prune`). A work tree is unmounted first and
    kept, with a word, while anything stays mounted in it. Holds the VM side's run lock.
    Paths removed, with the bytes each freed."""
    cache = cache or paths.cache_dir()
    removed = []
    with hold(paths.LOCK, wait=wait):
        keep = keep_names(cache) if keep_current else set()
        for path, size, is_stale in cache_items(cache, keep):
            if not is_stale:
                continue
            try:
                _remove(path)
            except RuntimeError as exc:
                say(f"kept {path}: {exc}")
                continue
            freed = size - (disk_usage(path) if path.exists() else 0)
            removed.append((path, freed))
            say(f"removed {path} ({human(freed)})")
        removed += vagrantcmd.prune(current_key() if keep_current else None, say)
    return removed


def _base(cache: Path, rootfs: Path, say) -> None:
    tar = box.base_file(cache)
    if not tar.is_file():
        say(f"debootstrap {box.SUITE} minbase (about 90 s)")
        run(["debootstrap", "--variant=minbase", "--include=" + ",".join(box.BASE_PACKAGES),
             box.SUITE, str(rootfs), box.MIRROR], timeout=DEBOOTSTRAP_S)
        partial = tar.with_suffix(".partial")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."],
            timeout=STEP_S)
        partial.rename(tar)
        return
    say(f"base root file system from {tar}")
    run(["tar", "-C", str(rootfs), "--numeric-owner", "-xpf", str(tar)], timeout=STEP_S)


def _provision(rootfs: Path, public_key: Path, deps: list[str]) -> None:
    scripts = rootfs / "tmp/pacemail-provision"
    shutil.copytree(paths.provision_dir(), scripts)
    shutil.copy(public_key, scripts / "box_key.pub")
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no daemon starts in the chroot
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    # The host's pip (with its own index and certificate settings) fetches the
    # wheels; pip in the chroot installs them offline.
    wheels = rootfs / "tmp/pacemail-wheels"
    run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels),
         "pip", "setuptools>=77", "wheel", *deps], timeout=STEP_S)
    env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8",
           "PACEMAIL_IMAGE_BUILD=1", "PACEMAIL_DRBD=8", "PACEMAIL_DEPS=" + " ".join(deps),
           "PIP_NO_INDEX=1", "PIP_FIND_LINKS=/tmp/pacemail-wheels"]
    try:
        with _mounted(rootfs):
            run(["chroot", str(rootfs), *env, "bash", "/tmp/pacemail-provision/install.sh"],
                timeout=INSTALL_S)
            run(["chroot", str(rootfs), *env, "bash", "/tmp/pacemail-provision/image.sh",
                 "/tmp/pacemail-provision/box_key.pub"], timeout=STEP_S)
    finally:
        policy.unlink(missing_ok=True)
        shutil.rmtree(scripts, ignore_errors=True)
        shutil.rmtree(wheels, ignore_errors=True)
        (rootfs / "etc/resolv.conf").unlink(missing_ok=True)


@contextmanager
def _mounted(rootfs: Path):
    """/proc, /sys, /dev and /dev/pts in the chroot for the duration; always unmounted."""
    done = []
    try:
        for where, what, how in CHROOT_MOUNTS:
            target = rootfs / where
            target.mkdir(parents=True, exist_ok=True)
            run(["mount", *how, what, str(target)], timeout=30)
            done.append(target)
        yield
    finally:
        for target in reversed(done):
            run(["umount", "-l", str(target)], timeout=30, check=False)


def _image(rootfs: Path, out: Path, work: Path) -> None:
    """Kernel and initrd out of /boot, the root file system into a qcow2 image."""
    kernel = max((rootfs / "boot").glob("vmlinuz-*"))
    shutil.copy(kernel, out / box.KERNEL)
    shutil.copy(rootfs / "boot" / kernel.name.replace("vmlinuz", "initrd.img"), out / box.INITRD)
    raw = work / "root.raw"
    run(["mke2fs", "-q", "-t", "ext4", "-L", "pacemail-root", "-d", str(rootfs), str(raw),
         f"{box.VIRTUAL_SIZE_GB}G"], timeout=STEP_S)
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / "box.img")], timeout=STEP_S)
    raw.unlink()


def mounts_under(mountinfo: str, path: Path) -> list[str]:
    """Mount points at or below ``path`` in a /proc/self/mountinfo text, deepest first."""
    base = str(path).rstrip("/")
    points = [line.split()[4] for line in mountinfo.splitlines() if len(line.split()) > 4]
    inside = [p for p in points if p == base or p.startswith(base + "/")]
    return sorted(set(inside), key=len, reverse=True)


def _mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


def unmount(path: Path) -> list[str]:
    """Lazily unmount everything mounted at or below ``path``, deepest first (a killed
    build leaves the chroot's /dev, /proc and /sys bound in its work tree); the mount
    points unmounted. RuntimeError when something is still mounted there afterwards."""
    points = mounts_under(_mountinfo(), path)
    for point in points:
        run(["umount", "-l", point], timeout=30, check=False)
    if mounts_under(_mountinfo(), path):
        raise RuntimeError(f"{path} still has mounts; not deleting it")
    return points


def _remove(path: Path) -> None:
    """Delete a file or tree of the cache, after unmounting whatever is still mounted in it
    (a bound /dev!); a symlink goes itself, never what it points to."""
    unmount(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

