"""``python -m pacemail`` runs the command line."""

from pacemail.controller.cli import main

main()
