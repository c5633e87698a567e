"""The drills' mail settings (:mod:`pacemail.drillmail`) in the lab, written at ``lab up``.

The template (cib-templates/mail-3node.yaml) runs postfix with
``config_dir /etc/postfix`` and dovecot with ``/etc/dovecot/dovecot.conf``: the
configuration stays per node in /etc (each node's own copy, see provision.py),
the data lives on the mail volume mounted at /srv/mail.
"""

from __future__ import annotations

import os
import tempfile

from pacemail.drillmail import DOVECOT_CONF, POSTFIX_MAIN, USER, VMAIL_ID
from pacemail.lab.topology import Lab
from pacemail.proc import run


def configure_nodes(lab: Lab) -> None:
    """Postfix and dovecot configuration in every node's own /etc copies."""
    for node in lab.nodes:
        postfix_dir = str(node.root / "etc/postfix")
        run(["postconf", "-c", postfix_dir, "-e"] +
            [f"{k}={v}" for k, v in POSTFIX_MAIN.items()], timeout=30)
        run(["postconf", "-c", postfix_dir, "-F", "*/*/chroot=n"], timeout=30)
        (node.root / "etc/dovecot/dovecot.conf").write_text(DOVECOT_CONF)
        _postfix_log(node.root / POSTFIX_MAIN["maillog_file"].lstrip("/"))


def _postfix_log(path) -> None:
    """maillog_file owned by postfix: postfix-script's integrity check runs postsuper
    unprivileged before postlogd runs, and it writes there directly ("postsuper:
    fatal: open logfile ... Permission denied" failed a restart after a killed
    master in CI)."""
    import pwd
    owner = pwd.getpwnam("postfix")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o640, exist_ok=True)
    os.chown(path, owner.pw_uid, owner.pw_gid)
    path.chmod(0o640)


def prepare_volume(device: str) -> None:
    """The mailbox home and queue directories on the (unmounted) mail volume."""
    with tempfile.TemporaryDirectory(prefix="pm-mail-vol-") as where:
        run(["mount", device, where], timeout=30)
        try:
            home = os.path.join(where, USER)
            os.makedirs(home, exist_ok=True)
            os.chown(home, VMAIL_ID, VMAIL_ID)
            os.makedirs(os.path.join(where, "postfix-queue"), exist_ok=True)
        finally:
            run(["umount", where], timeout=30)
