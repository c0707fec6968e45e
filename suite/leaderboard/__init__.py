"""Leaderboards: tables and plots built from run folders alone (``python -m suite.leaderboard``).

:mod:`~suite.leaderboard.load` reads a results tree, :mod:`~suite.leaderboard.build` groups and
aggregates it (:mod:`~suite.leaderboard.ranks` ranks across cells, regret against
:mod:`~suite.leaderboard.reference`); :mod:`~suite.leaderboard.text` formats what the tables show,
:mod:`~suite.leaderboard.page` lays out README.md and leaderboard.html (Jinja2 templates under
``templates/``) and :mod:`~suite.leaderboard.render` writes every table file,
listed in :mod:`~suite.leaderboard.manifest` so a rebuild prunes only its own stale files;
:mod:`~suite.leaderboard.plots` draws the figures, with :mod:`~suite.leaderboard.anytime` and
:mod:`~suite.leaderboard.drawgraph` on :mod:`~suite.leaderboard.figure`'s shared helpers.
"""
