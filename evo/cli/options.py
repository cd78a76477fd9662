"""What the ``evo`` subcommands share: the parser class and the options several take."""

from __future__ import annotations

import argparse
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (status 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line and exit with status 2."""
        self.exit(2, f"evo: error: {message} (see `{self.prog} --help`)\n")


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable), collected in ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help
    )


def add_quiet(parser: argparse.ArgumentParser, what: str) -> None:
    """``--quiet``: print only the path of the folder made."""
    parser.add_argument("--quiet", action="store_true", help=f"print only the {what}'s path")
