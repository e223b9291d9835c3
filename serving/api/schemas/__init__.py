"""What the HTTP API accepts and returns (pydantic; the OpenAPI document is generated from these)."""
