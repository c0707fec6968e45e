"""``python -m suite.leaderboard``: the command; its code lives in :mod:`suite.app.leaderboard`."""

from __future__ import annotations

import sys

from suite.app.leaderboard import main

if __name__ == "__main__":
    sys.exit(main())
