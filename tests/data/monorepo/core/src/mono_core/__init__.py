"""mono-core: a fixture package."""
