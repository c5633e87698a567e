"""OCF resource agents, installed as ocf:pacemail:<name>, and the runtime they share."""

# Every agent module pacemail.agents.<name> defines AGENT; install, docs and
# the meta-data tests go through this tuple, so a new agent adds its name here.
NAMES = ("dummy", "vip", "mount", "drbd", "postfix", "dovecot", "proxysql")
