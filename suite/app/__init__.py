"""Command-line entry points and the lm-eval model: the top layer, nothing imports it."""
