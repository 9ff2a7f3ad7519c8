"""The database, whatever is stored in it: the declarative base, engines and sessions, the schema's version.

Imports nothing of ours: the domain (`booking`), staff accounts (`accounts`), the application layer
(`actions`), the outbox (`notifications`) and the edge (`hotline`) each put their tables on this `Base`.
"""
