"""Start a command with /dev/kvm hidden: ``python -m pacemail.vms.nokvm COMMAND...``.

Run inside a private mount namespace (``unshare --mount --propagation private``)
by :func:`pacemail.vms.netns.up` for libvirtd. KVM does not boot guests here
(LAB-NOTES) and the VMs run under TCG, but /dev/kvm exists (root only):
libvirt's capability probe of qemu found KVM enabled, its next cache check
(can the qemu user open /dev/kvm? no) called the cache outdated, and it
probed again, on nearly every call (8 probes a minute seen, each 10 s or
more): that was most of the minutes `vagrant up` spent "Creating domain".
With an unreadable empty file over /dev/kvm both say "no KVM" and one probe
is kept. Nothing outside the namespace sees the bind mount.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pacemail.proc import run

KVM = Path("/dev/kvm")


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

    hide_kvm(paths.state_dir() / "no-kvm")
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
