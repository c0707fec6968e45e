"""Running searches: the executor, the search loop, sessions, results and summaries."""
