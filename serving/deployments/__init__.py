"""Ray Serve deployments: Detector → Embedder → Matcher, chained by the Gateway."""
