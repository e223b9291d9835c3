"""Settings and Serve/Ray configuration files."""
