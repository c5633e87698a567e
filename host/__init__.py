"""What pacemail holds on this machine, and taking back what no live run holds."""
