"""``python -m pyoneer`` is the ``pyoneer`` command."""

from pyoneer.launch import main

main()
