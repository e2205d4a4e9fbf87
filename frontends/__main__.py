"""``python -m sortslice``: the command line, as the ``sortslice`` command."""

from sortslice.cli import main

if __name__ == "__main__":
    main(prog_name="sortslice")
