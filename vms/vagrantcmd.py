"""Running ``vagrant`` itself: in pacemail's network namespace when it is up, bounded in time."""

from __future__ import annotations

import os
from pathlib import Path

from pacemail.proc import run
from pacemail.vms import netns, paths

BOX_ADD_S = 300.0


def box_add(box_file: Path) -> None:
    run(["vagrant", "box", "add", "--force", "--name", paths.BOX_NAME, str(box_file)],
        timeout=BOX_ADD_S)


def isolated_env(environ=os.environ) -> dict[str, str]:
    """The environment of vagrant here: local box, libvirt (TCG), no NAT."""
    return {**environ, "PACEMAIL_BOX": environ.get("PACEMAIL_BOX", "local"),
            "PACEMAIL_ISOLATED": "1", "VAGRANT_DEFAULT_PROVIDER": "libvirt",
            "VAGRANT_CWD": str(paths.vagrant_dir())}


def isolated(args: list[str], timeout: int, environ=os.environ) -> tuple[list[str], dict]:
    """argv and environment running ``vagrant args`` in the namespace, bounded by ``timeout``."""
    argv = ["timeout", "--foreground", "--kill-after=30", str(timeout),
            "ip", "netns", "exec", netns.NETNS, "vagrant", *args]
    return argv, isolated_env(environ)
