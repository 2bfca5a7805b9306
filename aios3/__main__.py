"""Lets `python -m aios3` start the server, exactly like the `aios3` script."""

import sys

from aios3.cli import main

sys.exit(main())
