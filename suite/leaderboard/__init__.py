"""Leaderboards: tables and plots built from run folders alone (``python -m suite.leaderboard``).

:mod:`~suite.leaderboard.load` reads a results tree, :mod:`~suite.leaderboard.build` groups and
aggregates it, :mod:`~suite.leaderboard.render` and :mod:`~suite.leaderboard.page` write the
tables, :mod:`~suite.leaderboard.plots` and :mod:`~suite.leaderboard.drawgraph` the plots.
"""
