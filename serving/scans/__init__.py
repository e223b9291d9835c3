"""Archive scans on Ray Data: sources, the pipeline's stages, the driver and its writer."""
