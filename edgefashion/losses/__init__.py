"""The loss primitives the models and the trainers share (below both: models build their own losses
from them, training wraps them): ``multitask`` (category cross-entropy, the paper's weighted BCE,
the category + attribute loss) and ``attribute_groups`` (softmax per exclusive group, asymmetric /
focal / BCE multi-label groups)."""
