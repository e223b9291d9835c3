"""Running face networks: sessions, detectors, embedders and model packs (no Ray, HTTP or SQL)."""
