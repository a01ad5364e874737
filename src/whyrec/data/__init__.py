"""Data stage: schema, loaders, validation, splits, the embedded store, the bundled sample."""

from whyrec.data.schema import EVENT_TYPES, Dataset, IdMap

__all__ = ["EVENT_TYPES", "Dataset", "IdMap"]
