"""Values and rules every layer reads.

Errors, the graph, costs, the space, the distribution, statistics, metering.
"""
