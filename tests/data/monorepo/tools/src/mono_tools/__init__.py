"""mono-tools: a fixture package."""
