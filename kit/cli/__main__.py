"""``python -m kit.cli``: the ``kit`` command."""

from . import main

main()
