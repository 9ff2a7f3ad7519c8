"""Staff accounts: users, the offices managers run, roles, API tokens for integrations, failed logins.

Imports `database` and `booking` (a manager's offices are the domain's offices), never Flask: passwords
arrive hashed by the edge, and the edge decides what a role may see.
"""
