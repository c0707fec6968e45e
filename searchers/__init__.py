"""Graph searchers, one module each; loaded by name through ``suite.config.registry``."""
