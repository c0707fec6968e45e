"""``python -m suite.simfit``: the command; its code lives in :mod:`suite.app.simfit`."""

from __future__ import annotations

import sys

from suite.app.simfit import main

if __name__ == "__main__":
    sys.exit(main())
