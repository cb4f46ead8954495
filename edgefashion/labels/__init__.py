"""Label schemas: what a model's outputs mean."""
from edgefashion.labels.schema import (Attribute, Category, LabelSchema, schema_from_deepfashion,
                                       schema_from_folders)

__all__ = ["Attribute", "Category", "LabelSchema", "schema_from_deepfashion", "schema_from_folders"]
