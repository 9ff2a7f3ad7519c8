"""The booking API under /api/v1: JSON, described by an OpenAPI 3 document."""
