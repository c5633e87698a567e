"""pacemail: high availability for postfix + dovecot mail clusters on Pacemaker/Corosync.

The subpackages map one to one onto the repository's top-level folders
(``pacemail.agents`` is agents/, ``pacemail.cib_templates`` cib-templates/);
this root package (core/) holds what every one of them may use.
"""

__version__ = "0.1.0"

# The code subpackages, lowest layer first (tests/test_layers.py holds which may
# import which): a launcher (pacemail.agents.install.script) makes them all findable.
SUBPACKAGES = ("pacemaker", "agents", "fencing", "controller",
               "lab", "vms", "drills", "host", "cli")
