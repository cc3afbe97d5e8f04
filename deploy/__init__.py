"""Deployment, in two folders: ``local/`` (this package's one subpackage, ``vanphong stack``: the
local development stack, for development and the tests) and ``production/`` (not Python: what a
platform team applies, ``systemd/``, ``kubernetes/``, ``container/``, ``prometheus/``,
``grafana/``; not in the wheel)."""
