"""Benchmarks of the booking core against a real database; they print figures and assert nothing."""
