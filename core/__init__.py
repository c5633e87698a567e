"""pacemail: high availability for postfix + dovecot mail clusters on Pacemaker/Corosync.

The subpackages map one to one onto the repository's top-level folders:
``pacemail.agents`` (agents/), ``pacemail.controller`` (controller/),
``pacemail.fencing`` (fencing/), ``pacemail.lab`` (lab/),
``pacemail.drills`` (drills/), ``pacemail.cib_templates`` (cib-templates/).
"""

__version__ = "0.1.0"
