"""Built-in scenario files (``*.toml``), read by :func:`scenarios.loader.load_spec` like a user's file."""
