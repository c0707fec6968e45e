"""``python -m suite.models``: the command; its code lives in :mod:`suite.app.models`."""

from __future__ import annotations

import sys

from suite.app.models import main

if __name__ == "__main__":
    sys.exit(main())
