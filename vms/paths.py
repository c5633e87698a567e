"""Where the Vagrant material lives: the checkout's vagrant/ folder and the box cache."""

from __future__ import annotations

import os
from pathlib import Path

import pacemail

BOX_NAME = "pacemail/bookworm-local"
# Vagrant writes a box name's "/" as "-VAGRANTSLASH-" in its boxes/ folder, and
# vagrant-libvirt does the same in the name of the box's volume in libvirt's pool.
BOX_SLUG = BOX_NAME.replace("/", "-VAGRANTSLASH-")
# The Vagrantfile's libvirt.default_prefix: domains are pacemail-NODE, their disks
# pacemail-NODE.img and pacemail-NODE-vdb.qcow2 (the box's volume starts so too).
DOMAIN_PREFIX = "pacemail-"
# The run lock of the VM side (pacemail.runlock): one run at a time builds, boots or removes.
LOCK = "vagrant"


def checkout() -> Path:
    """The source tree pacemail runs from (an editable install: this checkout)."""
    return Path(pacemail.__file__).resolve().parent.parent


def vagrant_dir(environ=os.environ) -> Path:
    """The Vagrant project: PACEMAIL_VAGRANT_DIR, else the checkout's vagrant/."""
    return Path(environ.get("PACEMAIL_VAGRANT_DIR") or checkout() / "vagrant")


def provision_dir() -> Path:
    return vagrant_dir() / "provision"


def cache_dir(environ=os.environ) -> Path:
    return Path(environ.get("PACEMAIL_CACHE_DIR") or "/var/cache/pacemail/vagrant")


def state_dir(environ=os.environ) -> Path:
    """Kept across `net down`/`net up`: the fence key VMs are provisioned with, sshd's host key."""
    return Path(environ.get("PACEMAIL_VAGRANT_STATE") or "/var/lib/pacemail/vagrant")
