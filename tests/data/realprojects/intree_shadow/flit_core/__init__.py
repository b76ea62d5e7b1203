"""An in-tree backend named like the one in build-system.requires (flit_core 3.9.0 builds itself so)."""
