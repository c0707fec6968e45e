"""Backends answer batches of node calls: ``sim`` (embedded), later vLLM and OpenAI-compatible."""
