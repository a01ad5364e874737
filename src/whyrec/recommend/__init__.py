"""Recommend stage: one Recommender interface, models registered by name."""
