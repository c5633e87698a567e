"""A stand-in mail stack for drills until pacemail's own mail agents land.

Real postfix and dovecot, run by the resource-agents shell agents
(ocf:heartbeat:postfix, ocf:heartbeat:dovecot), each on top of a group of
the shared mail volume (ocf:pacemail:mount at /srv/mail) and the VIP
(ocf:pacemail:vip), like the template's tree: a failed postfix restarts
alone. Postfix delivers
to a Maildir on the volume and keeps its queue there too, so a message
accepted on a node that dies is delivered by the next one; dovecot serves
the same Maildir. Per-node configuration is written into each node's own
directories (what the node binds over /etc/postfix and /etc/dovecot).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from pacemail.lab import state
from pacemail.lab.nodes import node_run
from pacemail.lab.topology import Lab
from pacemail.proc import run

MAIL_ROOT = "/srv/mail"
QUEUE_DIR = f"{MAIL_ROOT}/postfix-queue"
VMAIL_ID = 5000
USER = "drill"
DOMAIN = "lab.test"
GROUP = "pm-drill-mail"
MONITOR = "interval=2s"


@dataclass(frozen=True)
class Stack:
    """What a drill needs to know about the mail stack it drills."""
    address: str
    resources: tuple[str, ...]   # the stack's resource ids (all run on one node)
    kind: str                    # "stand-in" or "pacemail"


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
# pacemail drill stand-in: IMAP on the shared Maildir, any password, no TLS (lab only)
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
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={VMAIL_ID} gid={VMAIL_ID} home={MAIL_ROOT}/%n
}}
"""


def configure_nodes(lab: Lab) -> None:
    """Write the stand-in's postfix and dovecot configuration into every node's directories."""
    for node in lab.nodes:
        postfix_dir = str(node.root / "etc/postfix")
        run(["postconf", "-c", postfix_dir, "-e"] +
            [f"{k}={v}" for k, v in POSTFIX_MAIN.items()], timeout=30)
        run(["postconf", "-c", postfix_dir, "-F", "*/*/chroot=n"], timeout=30)
        (node.root / "etc/dovecot/dovecot.conf").write_text(DOVECOT_CONF)


def prepare_volume(device: str) -> None:
    """The mailbox and queue directories on the (unmounted) mail volume."""
    with tempfile.TemporaryDirectory(prefix="pm-drill-vol-") as where:
        run(["mount", device, where], timeout=30)
        try:
            home = os.path.join(where, USER)
            os.makedirs(home, exist_ok=True)
            os.chown(home, VMAIL_ID, VMAIL_ID)
            os.makedirs(os.path.join(where, "postfix-queue"), exist_ok=True)
        finally:
            run(["umount", where], timeout=30)


def place(lab: Lab, address: str) -> Stack:
    """Configure and start the stand-in group; returns the stack (not waited for)."""
    device = state.facts(lab.name)["mail_device"]
    configure_nodes(lab)
    prepare_volume(device)
    ids = (f"{GROUP}-vip", f"{GROUP}-fs", f"{GROUP}-postfix", f"{GROUP}-dovecot")
    pcs = lambda *args: node_run(lab.name, "node1", ["pcs", *args], timeout=60)  # noqa: E731
    specs = (
        (ids[1], "ocf:pacemail:mount", f"device={device}", f"directory={MAIL_ROOT}", "fstype=ext4"),
        (ids[0], "ocf:pacemail:vip", f"ip={address}", "cidr_netmask=24", "nic=eth0"),
        (ids[2], "ocf:heartbeat:postfix", "config_dir=/etc/postfix"),
        (ids[3], "ocf:heartbeat:dovecot", "config_file=/etc/dovecot/dovecot.conf"),
    )
    for rid, agent, *params in specs[:2]:
        pcs("resource", "create", rid, agent, *params, "op", "monitor", MONITOR, "--group", GROUP)
    for rid, agent, *params in specs[2:]:  # each on top of the VIP, independent of the other
        pcs("resource", "create", rid, agent, *params, "op", "monitor", MONITOR)
        pcs("constraint", "colocation", "add", rid, "with", GROUP, "INFINITY")
        pcs("constraint", "order", GROUP, "then", rid)
    return Stack(address, ids, "stand-in")


def remove(lab: Lab) -> None:
    for rid in (f"{GROUP}-postfix", f"{GROUP}-dovecot", GROUP):
        node_run(lab.name, "node1", ["pcs", "resource", "delete", rid, "--force"], timeout=120,
                 check=False)
