"""The demo: a believable, deterministic history of one province, 2018–2025, as events in the
``vanphong publish`` format (``vanphong demo``, ``make run``, the tests and bench/ use it).

One job per module: ``office_calendar`` (when an office works, and how much: pure),
``organisation`` (who exists, and the reorganisations, as events), ``events`` (one event of each
kind of activity) and ``history`` (:func:`demo_events`: the whole history, its totals pinned to
the seed articles).
"""

from vanphong.demo.history import ARTICLE_DOCUMENTS, ARTICLE_MEETINGS, Demo, demo_events

__all__ = ["ARTICLE_DOCUMENTS", "ARTICLE_MEETINGS", "Demo", "demo_events"]
