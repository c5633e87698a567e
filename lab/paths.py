"""Where every lab keeps its files, as plain strings: code inside a node imports only this.

The DRBD test double starts on every failover's critical path, so the paths it
needs live here, in a module that imports nothing; lab.topology offers
``STATE_ROOT`` (the same directory as a Path) to everyone else.
"""

STATE_DIR = "/var/lib/pacemail-lab"  # lab <name>'s files are under STATE_DIR/<name>
LAB_NAME_FILE = "/run/pacemail/lab"  # inside a node: which lab it belongs to
