"""What the mail template's postfix and dovecot need in the lab, written at ``lab up``.

The template (cib-templates/mail-3node.yaml) runs postfix with
``config_dir /etc/postfix`` and dovecot with ``/etc/dovecot/dovecot.conf``: the
configuration stays per node in /etc (each node's own copy, see provision.py),
the data lives on the mail volume mounted at /srv/mail. Postfix listens on
all addresses, accepts mail for the test domain and delivers it to a Maildir
on the volume, and keeps its queue there too, so a message accepted by a node
that dies is delivered by the next one; dovecot serves the same Maildir over
IMAP to the drill's test user with its password (a static passdb: no user
file to keep), without TLS (lab only). ``vms/guest.py`` writes the same
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
    "virtual_mailbox_base": MAIL_ROOT,
    "virtual_mailbox_maps": f"inline:{{ {USER}@{DOMAIN}={USER}/Maildir/ }}",
    "virtual_uid_maps": f"static:{VMAIL_ID}",
    "virtual_gid_maps": f"static:{VMAIL_ID}",
    "maillog_file": "/var/log/postfix.log",
}

DOVECOT_CONF = f"""\
# pacemail lab: IMAP on the Maildir of the mail volume, no TLS (lab only)
protocols = imap
listen = *
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = /run/dovecot
log_path = /var/log/dovecot.log
first_valid_uid = {VMAIL_ID}
mail_location = maildir:{MAIL_ROOT}/%n/Maildir
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={VMAIL_ID} gid={VMAIL_ID} home={MAIL_ROOT}/%n
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
