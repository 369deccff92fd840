"""Built-in social-influence scenarios (``kind = "influence"`` TOML files), read by :mod:`scenarios.influence`."""
