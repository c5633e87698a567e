"""What the mail template's postfix and dovecot need in the lab, written at ``lab up``.

The template (cib-templates/mail-3node.yaml) runs postfix with
``config_dir /etc/postfix`` and dovecot with ``/etc/dovecot/dovecot.conf``: the
configuration stays per node in /etc (each node's own copy, see provision.py),
the data lives on the mail volume mounted at /srv/mail. Postfix listens on
all addresses, accepts mail for the test domain, hands it to dovecot over
LMTP and keeps its queue on the volume, so a message accepted by a node that
dies is delivered by the next one. Dovecot keeps the mailboxes on the volume
as sdbox, whose locks are fcntl locks that die with the node: Maildir's
dovecot-uidlist.lock is a dotlock file, and one left by a node that lost
power blocks the mailbox on the next node for its 2-minute stale timeout
(seen in the power-off drill). IMAP takes the drill's test user with its
password (a static passdb: no user file to keep), without TLS (lab only). ``vms/guest.py`` writes the same
settings into the Vagrant VMs.
"""

from __future__ import annotations

import os
import tempfile

from pacemail.lab.topology import Lab
from pacemail.proc import run

MAIL_ROOT = "/srv/mail"
QUEUE_DIR = f"{MAIL_ROOT}/postfix-queue"
VMAIL_ID = 5000
USER = "drill"
PASSWORD = "drill"
DOMAIN = "lab.test"
LMTP_PORT = 24

POSTFIX_MAIN = {
    "compatibility_level": "3.6",
    "inet_interfaces": "all",
    "inet_protocols": "ipv4",
    "myhostname": f"mail.{DOMAIN}",
    "mydestination": "",
    "mynetworks": "127.0.0.0/8 198.18.0.0/24",
    "smtpd_peername_lookup": "no",
    "queue_directory": QUEUE_DIR,
    "virtual_mailbox_domains": DOMAIN,
    "virtual_mailbox_maps": f"inline:{{ {USER}@{DOMAIN}=lmtp }}",
    "virtual_transport": f"lmtp:inet:127.0.0.1:{LMTP_PORT}",
    # A message deferred while dovecot (re)starts is retried within seconds, but not
    # sooner than 3 s: qmgr takes a deferred file back once its time stamp (now +
    # backoff, whole seconds) is at most 1 s ahead, so a 1 s backoff hands it back at
    # once, sometimes before the lmtp/error agent that deferred it has closed (unlocked)
    # it; qmgr then logs "skipped, still being delivered" and parks it in incoming/
    # for 60 s, picked up only by the next incoming scan (new mail or the 300 s
    # wakeup). With 3 s the agent has at least 1 s (kill-dovecot drills "lost" a message).
    "queue_run_delay": "1s",
    "minimal_backoff_time": "3s",
    "maximal_backoff_time": "3s",
    "maillog_file": "/var/log/postfix.log",
}

DOVECOT_CONF = f"""\
# pacemail lab: IMAP and LMTP on sdbox mailboxes of the mail volume, no TLS (lab only)
protocols = imap lmtp
listen = *
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = /run/dovecot
log_path = /var/log/dovecot.log
first_valid_uid = {VMAIL_ID}
mail_location = sdbox:{MAIL_ROOT}/%n/sdbox
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={VMAIL_ID} gid={VMAIL_ID} home={MAIL_ROOT}/%n allow_all_users=yes
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {LMTP_PORT}
  }}
}}
"""


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
