"""``python -m stammkunde.app`` runs the command line."""

from stammkunde.app.cli import main

main()
