"""stammkunde.plugins."""
