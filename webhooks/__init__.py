"""stammkunde.webhooks."""
