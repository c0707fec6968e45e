"""``python -m suite.missing``: the command; its code lives in :mod:`suite.app.missing`."""

from __future__ import annotations

import sys

from suite.app.missing import main

if __name__ == "__main__":
    sys.exit(main())
