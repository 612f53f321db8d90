"""``python -m pyoneer`` is the ``pyoneer`` command."""

from pyoneer.cli import main

main()
