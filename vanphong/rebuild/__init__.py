"""Numbers that can be checked and re-derived (issue 18): ``vanphong verify`` recomputes every
aggregate from the stored entities under today's rules and compares; ``vanphong rebuild`` builds
the recomputed aggregates beside the live ones and swaps them in while workers keep writing.

The rules are the worker's own (vanphong/core/semantics.py, vanphong/core/rules.py, through
vanphong/core/recompute.py); this package only reads, writes and swaps.
"""
