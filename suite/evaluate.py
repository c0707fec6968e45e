"""``python -m suite.evaluate``: the command; its code lives in :mod:`suite.app.evaluate`."""

from __future__ import annotations

import sys

from suite.app.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
