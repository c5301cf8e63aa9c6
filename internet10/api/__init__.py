"""JSON API under /api/v1: validates, calls a service, translates the result."""
