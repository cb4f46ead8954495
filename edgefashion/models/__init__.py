"""Model zoo: ``create_model(name, num_categories, num_attributes, **cfg)`` and ``list_models()``."""
from edgefashion.models import msfan  # noqa: F401  (registers "msfan")
from edgefashion.models import msfan_student  # noqa: F401  (registers "msfan_student")
from edgefashion.models import landmark_attention  # noqa: F401  (registers "landmark_attention")
from edgefashion.models import vsam  # noqa: F401  (registers "vsam")
from edgefashion.models import m2fashion, multibranch  # noqa: F401  (registers "m2fashion", "multibranch")
from edgefashion.models import lite_classifier, msfan_lite  # noqa: F401  (registers "lite_classifier", "msfan_lite")
from edgefashion.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from edgefashion.models.registry import create_model, get_model_class, list_models, register_model

__all__ = ["create_model", "list_models", "get_model_class", "register_model",
           "load_checkpoint", "read_checkpoint", "save_checkpoint"]
