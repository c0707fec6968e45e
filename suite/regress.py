"""``python -m suite.regress``: the command; its code lives in :mod:`suite.app.regress`."""

from __future__ import annotations

import sys

from suite.app.regress import main

if __name__ == "__main__":
    sys.exit(main())
