"""``python -m pacemail.cli`` runs the command line (what the ``pacemail`` script runs)."""

from pacemail.cli import main

main()
