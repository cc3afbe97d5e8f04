"""The pure core: the contract's semantics (CONTRACT.md §4–§6) as plain functions over plain data.

It imports only `schemas`: no Kafka, no PostgreSQL, no faust (an import-linter contract in
pyproject.toml holds it to that).
"""
