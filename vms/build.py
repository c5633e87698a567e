"""Building the box from Debian packages: debootstrap, the shared install script, an image.

Stages, each cached on disk under :func:`pacemail.vms.paths.cache_dir`:
the debootstrap root file system (a tar keyed by :func:`box.base_key`), then
the box itself (keyed by :func:`box.box_key`), made by running
``vagrant/provision/install.sh`` and ``image.sh`` in a chroot of that root
file system, ``mke2fs -d`` into a raw image and ``qemu-img convert`` to qcow2.
"""

from __future__ import annotations

import json
import shutil
import sys
import tomllib
from contextlib import contextmanager
from pathlib import Path

from pacemail.proc import run
from pacemail.vms import box, paths

DEBOOTSTRAP_S = 1800.0
INSTALL_S = 2400.0
STEP_S = 600.0
CHROOT_MOUNTS = (("proc", "proc", ["-t", "proc"]), ("sys", "sys", ["-t", "sysfs"]),
                 ("dev", "/dev", ["--bind"]), ("dev/pts", "/dev/pts", ["--bind"]))


def dependencies(checkout: Path) -> list[str]:
    with open(checkout / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def cached_box(cache: Path | None = None) -> Path | None:
    """The box file for the current inputs, if it was built already."""
    cache = cache or paths.cache_dir()
    found = box.box_file(cache, box.box_key(paths.provision_dir(), dependencies(paths.checkout())))
    return found if found.is_file() else None


def build(cache: Path | None = None, say=lambda m: None) -> Path:
    """The box for the current inputs: from the cache, or built now (needs root)."""
    cache = cache or paths.cache_dir()
    deps = dependencies(paths.checkout())
    target = box.box_file(cache, box.box_key(paths.provision_dir(), deps))
    if target.is_file():
        say(f"cached: {target}")
        return target
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
        _provision(rootfs, out / f"{box.KEY}.pub", deps)
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
    return target


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


def _remove(work: Path) -> None:
    """Delete a work tree, after unmounting whatever is still mounted in it (a bound /dev!)."""
    for point in mounts_under(Path("/proc/self/mountinfo").read_text(), work):
        run(["umount", "-l", point], timeout=30, check=False)
    if mounts_under(Path("/proc/self/mountinfo").read_text(), work):
        raise RuntimeError(f"{work} still has mounts; not deleting it")
    shutil.rmtree(work, ignore_errors=True)
