"""Fault tests: real processes killed, a database cut off, and the system expected to carry on."""
