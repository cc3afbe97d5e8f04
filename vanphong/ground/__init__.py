"""The ground layer: settings, logging, and the helpers every client of Kafka stands on.

It may import the core and `schemas`, never `streams`, `sinks`, `deploy` or the command line.
"""
