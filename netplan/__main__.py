"""``python -m netplan`` runs the CLI."""

from netplan.cli import main

if __name__ == "__main__":
    main()
