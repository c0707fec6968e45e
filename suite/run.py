"""``python -m suite.run``: the command; its code lives in :mod:`suite.app.run`."""

from __future__ import annotations

import sys

from suite.app.run import main

if __name__ == "__main__":
    sys.exit(main())
