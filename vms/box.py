"""The locally built box, as data: its package list, cache key, metadata and Vagrantfile.

A box is a tar of ``metadata.json``, ``Vagrantfile``, ``box.img`` (qcow2),
the kernel and initrd it boots with (the image has no bootloader) and the
private key of its root login. Its cache key hashes every input: the
package list, the provisioning scripts baked in, pacemail's dependencies
and this module's own texts, so a changed input builds a new box. The image
carries its own key in :data:`KEY_FILE` (written after the key is computed),
so a booted VM shows which box it was made from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# debootstrap --variant=minbase --include: boot, log in, build the initramfs.
BASE_PACKAGES = (
    "systemd-sysv", "udev", "kmod", "iproute2", "openssh-server", "python3", "e2fsprogs",
    "initramfs-tools", "linux-image-amd64", "rsync", "ca-certificates", "curl", "procps",
)
BAKED_SCRIPTS = ("lib.sh", "install.sh", "image.sh")
VIRTUAL_SIZE_GB = 4
KERNEL, INITRD, KEY = "vmlinuz", "initrd.img", "pacemail_key"
CMD_LINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
KEY_FILE = "/etc/pacemail-box-key"
BOX_PREFIX, BOX_SUFFIX = "pacemail-bookworm-", ".box"

METADATA = {"provider": "libvirt", "format": "qcow2", "virtual_size": VIRTUAL_SIZE_GB}

# The box's own Vagrantfile: merged under the project's, paths relative to the unpacked box.
VAGRANTFILE = f"""\
# pacemail's locally built Debian 12 box (pacemail vagrant box build).
Vagrant.configure("2") do |config|
  here = File.dirname(__FILE__)
  config.ssh.username = "root"
  config.ssh.private_key_path = File.join(here, "{KEY}")
  config.ssh.insert_key = false
  config.ssh.sudo_command = "%c"
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "qemu"
    libvirt.kernel = File.join(here, "{KERNEL}")
    libvirt.initrd = File.join(here, "{INITRD}")
    libvirt.cmd_line = "{CMD_LINE}"
    libvirt.cpu_mode = "custom"
    libvirt.cpu_model = "qemu64"
  end
end
"""


def base_key() -> str:
    """Cache key of the debootstrap stage alone (the slow, rarely changing part)."""
    return _digest([SUITE, MIRROR, *BASE_PACKAGES])


def box_key(provision_dir: Path, dependencies: list[str]) -> str:
    """Cache key of the whole box: base stage, baked scripts, dependencies, box texts.

    :data:`KEY_FILE` is one of the texts: a box built before images carried
    their key is not the current box.
    """
    parts = [base_key(), *dependencies, json.dumps(METADATA, sort_keys=True), VAGRANTFILE,
             CMD_LINE, KEY_FILE]
    for name in BAKED_SCRIPTS:
        parts += [name, (provision_dir / name).read_text()]
    return _digest(parts)


def box_file(cache: Path, key: str) -> Path:
    return cache / f"{BOX_PREFIX}{key}{BOX_SUFFIX}"


def key_of(box: Path) -> str:
    """The cache key a box file is named with (:func:`box_file`)."""
    name = box.name
    if not (name.startswith(BOX_PREFIX) and name.endswith(BOX_SUFFIX)):
        raise ValueError(f"{box} is not named like a pacemail box ({BOX_PREFIX}KEY{BOX_SUFFIX})")
    return name[len(BOX_PREFIX):-len(BOX_SUFFIX)]


def base_file(cache: Path) -> Path:
    return cache / f"base-{SUITE}-{base_key()}.tar"


def _digest(parts: list[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]
