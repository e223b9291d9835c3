"""The HTTP API under /api/v1: routes stay thin, services hold the logic."""
