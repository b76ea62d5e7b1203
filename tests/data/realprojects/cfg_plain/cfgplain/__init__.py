"""plain setup.cfg project."""
