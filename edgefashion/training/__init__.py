"""Training and evaluation (needs torch; the runtime never imports this package)."""
from edgefashion.training.config import TrainConfig

__all__ = ["TrainConfig", "Trainer", "evaluate_model", "save_report"]


def __getattr__(name: str):
    if name == "Trainer":
        from edgefashion.training.trainer import Trainer

        return Trainer
    if name in ("evaluate_model", "save_report", "collect_outputs", "evaluate_outputs"):
        from edgefashion.training import evaluate

        return getattr(evaluate, name)
    raise AttributeError(name)
