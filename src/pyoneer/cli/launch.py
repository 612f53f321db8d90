"""The ``pyoneer`` command's entry point: a head start for ``pyoneer run``, then the CLI.

``pyoneer run`` runs its first task in a warm interpreter (a fork server), its output
copied by a relay. Python takes about as long to start one as this process takes to
import its CLI and read the project, so both are started first, before anything else
is imported, and come up on another core meanwhile. Any other command, or a run that cannot use it, closes it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from pyoneer.machine.warm import ForkServer


def main() -> NoReturn:
    """Run the ``pyoneer`` command."""
    if sys.argv[1:] in (["--version"], ["-V"]):  # at once: not even the command line's parser is needed
        from pyoneer import __version__

        print(f"pyoneer, version {__version__}")
        sys.exit(0)
    spare = _head_start(sys.argv[1:])
    from pyoneer.cli.command import main as cli_main

    cli_main(spare=spare)


def _head_start(args: list[str]) -> ForkServer | None:
    """A fork server for ``pyoneer run`` on the local engine, when there is a core to spare."""
    if args[:1] != ["run"]:
        return None
    if any(arg in ("-h", "--help") or (arg.startswith("--engine") and "local" not in arg) for arg in args):
        return None  # (``--engine local`` as two words also lands here: it only loses the head start)
    from pyoneer.machine.streams import spare_relay
    from pyoneer.machine.warm import spare_fork_server

    spare = spare_fork_server()
    spare_relay()  # the tasks' output relay (pyoneer.machine.streams), up before the first task
    return spare
