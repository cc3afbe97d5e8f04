"""``make bench``: vanphong's throughput, latency and memory beside a ceiling, a naive service and
a peer library, on the same pre-published events, with every aggregate checked."""
