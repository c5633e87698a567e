"""OCF resource agents, installed as ocf:pacemail:<name>, and the runtime they share."""

# Every agent module pacemail.agents.<name> defines AGENT; install, docs and
# the meta-data tests go through this tuple, so a new agent adds its name here.
NAMES = ("dummy", "vip", "mount", "drbd", "postfix", "dovecot", "proxysql")


def load(name: str):
    """The declaration (``AGENT``) of ``ocf:pacemail:<name>``: its parameters and actions."""
    import importlib

    return importlib.import_module(f"{__name__}.{name}").AGENT
