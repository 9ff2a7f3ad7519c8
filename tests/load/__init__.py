"""Load tests: bench/rush.py's machinery, bounded for CI (real gunicorn on loopback, both engines)."""
