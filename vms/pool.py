"""Our volumes in libvirt's default pool: the box's root image and the VMs' disks.

vagrant-libvirt (0.11, ``HandleBoxImage.get_volume_name``) uploads a box's
image into the pool once, as a volume named from the box: its name (``/`` as
``-VAGRANTSLASH-``), ``_vagrant_box_image_``, its version, ``_box.img``. A box
added from a file has version 0, written ``0_`` and the mtime of its unpacked
``box.img``, so each add of the box uploads a volume of its own, 1.24 GB, and
nothing ever deletes the old one (``vagrant box remove`` says to do it by
hand). Each VM's disks are overlays on that volume, named after the domain.

A volume goes as a file, names of ours only (:data:`paths.DOMAIN_PREFIX`);
while our libvirtd runs it then re-reads the pool: vagrant-libvirt asks
libvirt's list of volumes, not the directory, whether the box's is there.
"""

from __future__ import annotations

import os
from pathlib import Path

from pacemail.vms import netns, paths

BOX_VOLUME_PREFIX = f"{paths.BOX_SLUG}_vagrant_box_image_"


def box_volume(mtime: int) -> str:
    """The volume vagrant-libvirt makes for our box (version 0) whose box.img has ``mtime``."""
    return f"{BOX_VOLUME_PREFIX}0_{mtime}_box.img"


def is_box_volume(name: str) -> bool:
    return name.startswith(BOX_VOLUME_PREFIX)


def ours(names: list[str]) -> list[str]:
    return sorted(n for n in names if n.startswith(paths.DOMAIN_PREFIX))


def vm_disks(names: list[str]) -> list[str]:
    """The VMs' disks among ``names``: ours, not a box's volume."""
    return [n for n in ours(names) if not is_box_volume(n)]


def stale_box_volumes(names: list[str], current: str | None) -> list[str]:
    """Box volumes other than ``current``; none while any VM disk exists (it is an overlay
    on one of them, and which one is not in its name)."""
    if vm_disks(names):
        return []
    return [n for n in ours(names) if is_box_volume(n) and n != current]


def pool_dir() -> Path:
    return Path(netns.POOL_DIR)


def volumes() -> list[str]:
    """Our volumes in the pool (file names in its directory)."""
    try:
        return ours(os.listdir(pool_dir()))
    except FileNotFoundError:
        return []


def delete(name: str, timeout: float = netns.STEP_S) -> None:
    """Delete our volume ``name`` (then refresh the pool of our libvirtd, if it runs)."""
    if name not in ours([name]) or "/" in name:
        raise ValueError(f"{name!r} is not a volume of pacemail's")
    (pool_dir() / name).unlink(missing_ok=True)
    if netns.libvirtd_up():
        netns.virsh(["pool-refresh", "default"], timeout=timeout, check=False)
