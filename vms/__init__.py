"""pacemail on virtual machines: the locally built Vagrant box, its network namespace, drills."""
