"""Recommender tests: the shared contract (contract.py) and one test module per model."""
