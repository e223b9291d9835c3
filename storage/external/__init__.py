"""Partner and government sources, as stored: their sealed credentials."""
