"""The searcher interface, its conformance suite, the agent loop and agents."""
