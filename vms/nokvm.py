"""Start a command with /dev/kvm hidden: ``python -m pacemail.vms.nokvm COMMAND...``.

Run inside a private mount namespace (``unshare --mount --propagation private``)
by :func:`pacemail.vms.netns.up` for libvirtd. KVM cannot boot guests on
this machine and the VMs run under TCG, but /dev/kvm exists (root only):
libvirt's capability probe of qemu found KVM enabled, its next cache check
(can the qemu user open /dev/kvm? no) called the cache outdated, and it
probed again, on nearly every call (8 probes a minute seen, each 10 s or
more): that was most of the minutes `vagrant up` spent "Creating domain".
With an unreadable empty file over /dev/kvm both say "no KVM" and one probe
is kept. libvirt cannot move that bind mount into a domain's own /dev ("Unable
to move ... mount to /dev/kvm: Invalid argument"), so this libvirtd also reads
a qemu.conf of ours: the system's with ``namespaces = []`` (no per-domain
mount namespace). Nothing outside the namespace sees either bind mount.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pacemail.proc import run

KVM = Path("/dev/kvm")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")


def qemu_conf(system: str) -> str:
    """The system's qemu.conf with no per-domain mount namespace."""
    kept = [line for line in system.splitlines() if not line.lstrip().startswith("namespaces")]
    return "\n".join(kept + ["", "# pacemail (vms/nokvm.py): /dev/kvm is a bind mount here, which",
                              "# libvirt cannot move into a domain's own /dev.",
                              "namespaces = []", ""])


def own_qemu_conf(copy: Path) -> None:
    """Bind a copy of qemu.conf with ``namespaces = []`` over the system's."""
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(qemu_conf(QEMU_CONF.read_text() if QEMU_CONF.exists() else ""))
    QEMU_CONF.parent.mkdir(parents=True, exist_ok=True)
    if not QEMU_CONF.exists():
        QEMU_CONF.touch()
    run(["mount", "--bind", str(copy), str(QEMU_CONF)], timeout=30)


def hide_kvm(placeholder: Path) -> bool:
    """Bind ``placeholder`` (made empty, mode 000) over /dev/kvm; False when there is none."""
    if not KVM.exists():
        return False
    placeholder.parent.mkdir(parents=True, exist_ok=True)
    placeholder.touch()
    placeholder.chmod(0)
    run(["mount", "--bind", str(placeholder), str(KVM)], timeout=30)
    return True


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m pacemail.vms.nokvm COMMAND [ARG...]")
    from pacemail.vms import paths

    if hide_kvm(paths.state_dir() / "no-kvm"):
        own_qemu_conf(paths.state_dir() / "qemu.conf")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
