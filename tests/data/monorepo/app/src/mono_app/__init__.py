"""mono-app: a fixture package."""
