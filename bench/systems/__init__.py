"""The measured systems. vanphong runs as its own ``vanphong worker`` processes; the others are
small programs started as child processes (``python -m bench.systems.<name>``), so each gets its
own interpreter and its own peak RSS, and the harness times them all the same way."""
