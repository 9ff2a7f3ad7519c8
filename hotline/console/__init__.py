"""The operators' and managers' web console."""
