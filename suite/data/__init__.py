"""Tasks and their data: lm-eval adapters, the dataset cache and sources, the code sandbox."""
