"""Customer rules: no web framework, no SQL."""
