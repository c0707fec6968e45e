"""``python -m suite.pilot``: the command; its code lives in :mod:`suite.app.pilot`."""

from __future__ import annotations

import sys

from suite.app.pilot import main

if __name__ == "__main__":
    sys.exit(main())
