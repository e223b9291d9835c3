"""Sources outside the service: partner databases and HTTPS feeds, and guarded downloads from them."""
