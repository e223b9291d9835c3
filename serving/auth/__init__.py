"""Authentication (argon2 passwords, JWT access tokens) and the one access policy."""
