"""The outside world (Zoom, Google, mail) behind small Protocols that speak our nouns."""
