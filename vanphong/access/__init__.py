"""Province readers (CONTRACT.md §7, §8 ``vanphong access``): login roles that read schema
``reporting`` about one province only, enforced by PostgreSQL (migration 0009).

:mod:`vanphong.access.plan` decides what to do, without a database (names, provinces, the
statements of a grant or a revoke); :mod:`vanphong.access.roles` asks PostgreSQL what exists
and runs the plan in one transaction, as the owner (VANPHONG_DATABASE_URL).
"""
