"""Running ``vagrant`` itself: in pacemail's network namespace when it is up, bounded in time."""

from __future__ import annotations

import os
from pathlib import Path

from pacemail.proc import run
from pacemail.vms import netns, paths

BOX_ADD_S = 300.0


def vagrant_home(environ=os.environ) -> Path:
    """VAGRANT_HOME of the runs here: under the box cache, not ~/.vagrant.d.

    The box boots its kernel and initrd straight from the box's folder, and
    libvirt's qemu runs as libvirt-qemu, which cannot get through /root (0700).
    """
    return Path(environ.get("PACEMAIL_VAGRANT_HOME") or paths.cache_dir(environ) / "home")


def box_add(box_file: Path, environ=os.environ) -> None:
    home = vagrant_home(environ)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    run(["vagrant", "box", "add", "--force", "--name", paths.BOX_NAME, str(box_file)],
        timeout=BOX_ADD_S, env={**environ, "VAGRANT_HOME": str(home)})


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
    argv = ["timeout", "--foreground", "--kill-after=30", str(timeout),
            "ip", "netns", "exec", netns.NETNS, "vagrant", *args]
    return argv, isolated_env(environ)
