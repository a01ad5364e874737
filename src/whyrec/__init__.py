"""whyrec: e-commerce recommendation that says why."""

__version__ = "0.1.0"
