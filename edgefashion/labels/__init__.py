"""Label schemas: what a model's outputs mean."""
from edgefashion.labels.schema import Attribute, Category, LabelSchema

__all__ = ["Attribute", "Category", "LabelSchema"]
