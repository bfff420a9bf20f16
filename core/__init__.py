"""stammkunde.core."""
