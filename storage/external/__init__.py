"""Partner and government databases, read-only: credentials, remote sources, photo downloads."""
