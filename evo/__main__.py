"""``python -m evo`` is the ``evo`` command."""

import sys

from evo.cli import main

if __name__ == "__main__":
    sys.exit(main())
