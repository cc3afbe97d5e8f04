"""What the tests and the benchmark share: the reference model of CONTRACT.md §5 and the
generators of histories to publish.

Why a package of its own: ``tests/`` and ``bench/`` each need the model and the generators, and
neither may import the other (an import contract in pyproject.toml says so), so what both use
lives here and imports neither. It is not part of the product: the wheel claims only
``vanphong`` (pyproject.toml's ``find`` includes ``vanphong*``), so ``testkit`` is never
installed. It is imported from the repository's root, which is on ``sys.path`` wherever it is
used: pytest puts it there (the root is the folder above the ``tests`` package), and the
benchmark runs as ``python -m bench.…`` from the root.
"""
