"""The drills' postfix and dovecot settings: the lab's nodes and the Vagrant VMs run both so.

Postfix listens on all addresses, accepts mail for the test domain, hands it
to dovecot over LMTP and keeps its queue on the mail volume (mounted at
/srv/mail), so a message accepted by a node that dies is delivered by the
next one. Dovecot keeps the mailboxes on the volume as sdbox, whose locks are
fcntl locks that die with the node: Maildir's dovecot-uidlist.lock is a
dotlock file, and one left by a node that lost power blocks the mailbox on
the next node for its 2-minute stale timeout (seen in the power-off drill).
IMAP takes the drill's test user with its password (a static passdb: no user
file to keep), without TLS (test clusters only). Data only: the lab
(:mod:`pacemail.lab.mailconf`) and the VMs (:mod:`pacemail.vms.guest`) write it.
"""

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
