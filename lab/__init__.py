"""The local lab: a real multi-node corosync + pacemaker cluster in Linux namespaces."""
