"""``python -m bilight`` runs the command line (see `bilight.cli`)."""

from bilight.cli import main

if __name__ == "__main__":
    main()
