"""``python -m evo`` is the ``evo`` command."""

from evo.cli import console

if __name__ == "__main__":
    console()
