"""Batch jobs on Ray Data: archive scans that run the same pipeline as the Serve chain."""
