"""The benchmark's own tests: they import bench, so they live in it (tests/ never imports bench)."""
