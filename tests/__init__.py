import pytest

# Helpers that assert get pytest's detailed assertion messages too.
pytest.register_assert_rewrite("tests.verify")
