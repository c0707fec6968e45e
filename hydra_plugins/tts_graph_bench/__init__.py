"""The suite's Hydra plugins: the ``warm`` launcher and the ``suite`` sweeper.

Hydra finds plugins only in the ``hydra_plugins`` namespace package, so these thin classes live
here (shipped in the wheel) and hand the work to :mod:`suite.app.warm` and :mod:`suite.app.sweep`.
"""
