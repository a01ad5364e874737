"""Explain stage: aspects from reviews, reasoners that write grounded personal reasons, filters."""
