"""``python -m pyoneer`` is the ``pyoneer`` command."""

from pyoneer.cli.launch import main

main()
