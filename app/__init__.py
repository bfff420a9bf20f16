"""stammkunde.app."""
