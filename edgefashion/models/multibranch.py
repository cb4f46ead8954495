"""Multi-branch: EfficientNet-B0 + transformer attention + one head per attribute group
(papers/multitask-transformer-attribute-extraction.txt).

EfficientNet-B0 gives (N, 1280, 7, 7) at 224; the 49 positions go through one transformer encoder
block (8 heads, nn.TransformerEncoderLayer), then global average pooling. One branch per attribute
group (two hidden layers + an output layer sized to the group's values) and one for the category.
Every branch is multi-label (sigmoid); "attribute_logits" concatenates the group branches in schema
order, so post-processing keeps in each mutually exclusive group the best label scoring >= 0.5.
Loss (eq. 1): sum over tasks of w_t * masked BCE, summed over a task's values and averaged over
the images where the task is labelled; missing labels (0 here, -1 in the paper) give no loss.

``groups`` (config) lists the group sizes, one branch each; default one group of all attributes.
When a schema's groups are not contiguous in attribute order (DeepFashion-C interleaves its five
types), ``group_of`` gives each attribute's group index and the branch outputs are gathered back
into schema order. ``MultiBranch.schema_options(schema)`` derives both from a LabelSchema.

``backbone="efficientnet_lite0|1|2"`` swaps torchvision's EfficientNet-B0 for timm's
EfficientNet-Lite (same 1280-channel output); ``pretrained`` takes any ``models.weights`` spec
(``efficientnet-lite0``, or a local torchvision efficientnet_b0 file for the default backbone).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.models.layers import is_tracing as _tracing
from edgefashion.models.backbones import EfficientNetFeatures, load_torchvision_weights
from edgefashion.models.pretrained import PretrainedMixin, load_resolved
from edgefashion.models.registry import register_model
from edgefashion.models.timm_backbones import LITE_FAMILIES, LiteBackbone
from edgefashion.models.contract import GarmentModule, check_input_size


@dataclass(frozen=True)
class MultiBranchConfig:
    width: float = 1.0                   # EfficientNet width_mult (CPU tests: 0.25)
    depth: float = 1.0                   # EfficientNet depth_mult
    input_size: int = 224
    groups: tuple[int, ...] = ()         # attribute group sizes (one branch each); () = one group
    group_of: tuple[int, ...] = ()       # group index of each attribute; () = groups are contiguous
    attention: bool = True               # the transformer block (the paper's ablation: without)
    heads: int = 8
    ffn_dim: int = 2048                  # the transformer block's feed-forward width
    norm_first: bool = True              # pre-LN; False = the post-LN block of Vaswani et al.
    head_dim: int = 512                  # hidden size of every branch's two hidden layers
    dropout: float = 0.2
    category_loss: str = "ce"            # "bce": the paper's sigmoid branch for the category too
    task_weights: tuple[float, ...] = ()  # w_t per attribute group; () = all 1
    backbone_weights: str | None = None  # local torchvision efficientnet_b0 .pth; never downloaded
    backbone: str = "efficientnet_b0"    # torchvision; or efficientnet_lite0 | 1 | 2 (timm)
    pretrained: str | None = None        # a models.weights spec; resolved at build only

    def __post_init__(self) -> None:
        if self.backbone != "efficientnet_b0" and self.backbone not in LITE_FAMILIES:
            raise BadInput(f"backbone {self.backbone!r} must be efficientnet_b0 or one of "
                           f"{', '.join(LITE_FAMILIES)}")
        object.__setattr__(self, "groups", tuple(int(g) for g in _seq(self.groups)))
        object.__setattr__(self, "group_of", tuple(int(g) for g in _seq(self.group_of)))
        if self.group_of and not self.groups:
            counts = [self.group_of.count(g) for g in range(max(self.group_of) + 1)]
            object.__setattr__(self, "groups", tuple(counts))
        if self.group_of and (min(self.group_of) < 0 or tuple(
                self.group_of.count(g) for g in range(len(self.groups))) != self.groups):
            raise BadInput(f"group_of (one group index per attribute) does not match groups "
                           f"{self.groups}; use MultiBranch.schema_options(schema)")
        object.__setattr__(self, "task_weights", tuple(float(w) for w in _seq(self.task_weights)))
        check_input_size(self.input_size, "EfficientNet stride 32")
        if any(g < 1 for g in self.groups):
            raise BadInput(f"groups {self.groups} must be positive group sizes")
        if self.task_weights and len(self.task_weights) != len(self.groups):
            raise BadInput(f"task_weights {self.task_weights} must give one weight per group "
                           f"({len(self.groups)} groups: {self.groups})")
        if self.heads < 1 or self.ffn_dim < 1 or self.head_dim < 1:
            raise BadInput(f"heads {self.heads}, ffn_dim {self.ffn_dim}, head_dim {self.head_dim} "
                           "must be >= 1")
        if self.category_loss not in ("ce", "bce"):
            raise BadInput(f"category_loss {self.category_loss!r} must be 'ce' or 'bce'")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["groups"], d["group_of"] = list(self.groups), list(self.group_of)
        d["task_weights"] = list(self.task_weights)
        return d


def _seq(v) -> tuple:
    return (v,) if isinstance(v, (int, float)) else tuple(v)


def _branch(d_in: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    """Two hidden layers + the output layer (``out`` may be 0)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(d_in, hidden), nn.ReLU(inplace=True),
                             nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))


@register_model("multibranch")
class MultiBranch(PretrainedMixin, GarmentModule):
    config_class = MultiBranchConfig
    tiny_config = {"width": 0.25, "depth": 0.34, "input_size": 64, "ffn_dim": 64, "head_dim": 32}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        c = MultiBranchConfig(**cfg)
        if not c.groups and num_attributes:
            c = replace(c, groups=(num_attributes,))
        if sum(c.groups) != num_attributes:
            raise BadInput(f"groups {c.groups} add up to {sum(c.groups)} attributes, but the model has "
                           f"{num_attributes}; give the schema's group sizes "
                           "(MultiBranch.schema_options(schema))")
        self.members = _members(c, num_attributes)  # attribute indices of each group
        self.cfg = c
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self._build_backbone(c)
        d = self.backbone.out_channels
        if d % c.heads:
            raise BadInput(f"the feature width {d} is not divisible by heads={c.heads}; change width")
        self.encoder = nn.TransformerEncoderLayer(d, c.heads, c.ffn_dim, dropout=0.1,
                                                  batch_first=True, norm_first=c.norm_first) if c.attention else None
        self.category_head = _branch(d, c.head_dim, num_categories, c.dropout)
        sizes = c.groups or (0,)  # no attributes: one empty branch gives the (N, 0) output
        self.group_heads = nn.ModuleList(_branch(d, c.head_dim, g, c.dropout) for g in sizes)
        grouped = [a for m in self.members for a in m]  # branch-output position -> attribute
        order = sorted(range(len(grouped)), key=grouped.__getitem__)
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long), persistent=False)
        self._reorder = grouped != sorted(grouped)

    @classmethod
    def schema_options(cls, schema) -> dict:
        """{"groups": sizes} (+ "group_of" when the groups are not contiguous) for a LabelSchema.

        One branch per schema group that has attributes, in the schema's group order.
        """
        used = [g for g, idx in schema.group_indices().items() if idx]
        number = {g: i for i, g in enumerate(used)}
        group_of = [number[a.group] for a in schema.attributes]
        sizes = [group_of.count(i) for i in range(len(used))]
        if group_of == sorted(group_of):
            return {"groups": sizes}
        return {"groups": sizes, "group_of": group_of}

    def _build_backbone(self, c: MultiBranchConfig) -> None:
        if c.backbone in LITE_FAMILIES:
            self.backbone = LiteBackbone(c.backbone, c.pretrained, c.width)
            self._set_weights_info(self.backbone.weights_info, c.backbone)
            return
        self.backbone = EfficientNetFeatures(c.width, c.depth)
        load_torchvision_weights(self.backbone, c.backbone_weights, "EfficientNet-B0")
        info = None
        if c.pretrained:
            if c.width != 1.0 or c.depth != 1.0:
                raise BadInput(f"pretrained weights {c.pretrained!r} need width=1.0 and depth=1.0")
            info = load_resolved(self.backbone, c.pretrained, "efficientnet_b0")
        self._set_weights_info(info, "efficientnet_b0")

    @property
    def output_names(self) -> list[str]:
        return ["category_logits", "attribute_logits", "embedding"]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A), embedding (N, D)."""
        s = self.cfg.input_size
        if not _tracing() and (image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s
                               or image.shape[-2] != s):
            raise BadInput(f"MultiBranch expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        tokens = self.backbone(image).flatten(2).transpose(1, 2)        # (N, h*w, D)
        if self.encoder is not None:
            tokens = self._encode(tokens)
        pooled = tokens.mean(dim=1)                                      # GAP: (N, D)
        return {"category_logits": self.category_head(pooled),
                "attribute_logits": self._attributes(pooled),
                "embedding": F.normalize(pooled, dim=1)}

    def _attributes(self, pooled: torch.Tensor) -> torch.Tensor:
        """The branches' outputs, concatenated, in schema attribute order."""
        grouped = torch.cat([h(pooled) for h in self.group_heads], dim=1)
        return grouped.index_select(1, self.order) if self._reorder else grouped

    def _encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """The transformer block; its fused fast path (eval) has no ONNX export, so not when tracing."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            return self.encoder(tokens)
        before = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.encoder(tokens)
        finally:
            torch.backends.mha.set_fastpath_enabled(before)

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module:
        weights = self.cfg.task_weights or (1.0,) * len(self.cfg.groups)
        return MaskedMultiTaskLoss(self.members, weights, train_cfg.w_category,
                                   train_cfg.w_attributes, self.cfg.category_loss,
                                   train_cfg.unknown_labels)


class MaskedMultiTaskLoss(nn.Module):
    """Eq. 1: sum_t w_t * BCE_mask^t, plus the category branch (CE, or BCE as in the paper).

    BCE_mask^t = (1 / n_t) sum_i sum_c mask * BCE(y_ic, p_ic): summed over the task's values,
    averaged over the n_t images with any known label in the task; unknown labels are masked.
    """

    def __init__(self, members, weights, w_c: float = 1.0, w_a: float = 1.0, category: str = "ce",
                 unknown: tuple[int, ...] = (0,)) -> None:
        super().__init__()
        self.members = [torch.as_tensor(list(m), dtype=torch.long) for m in members]
        self.category, self.unknown = category, tuple(unknown)
        self.register_buffer("weights", torch.as_tensor(list(weights), dtype=torch.float32))
        self.w_c, self.w_a = w_c, w_a

    def forward(self, out: dict, batch: dict) -> dict:
        logits, labels = out["attribute_logits"], batch["attributes"]
        known = torch.ones_like(labels, dtype=torch.bool)
        for u in self.unknown:
            known &= labels != u
        bce = F.binary_cross_entropy_with_logits(logits, (labels == 1).to(logits.dtype),
                                                 reduction="none") * known
        l_a = logits.sum() * 0.0
        for t, cols in enumerate(self.members):
            cols = cols.to(logits.device)
            n_t = known[:, cols].any(1).sum().clamp(min=1)
            l_a = l_a + self.weights[t] * bce[:, cols].sum() / n_t
        l_c = self._category(out["category_logits"], batch["category"])
        return {"loss": self.w_c * l_c + self.w_a * l_a, "category": l_c, "attributes": l_a}

    def _category(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        from edgefashion.losses.multitask import category_loss

        if self.category == "ce":
            return category_loss(logits, labels)
        keep = labels >= 0
        if not bool(keep.any()):
            return logits.sum() * 0.0
        target = F.one_hot(labels[keep], logits.shape[1]).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits[keep], target, reduction="sum") / keep.sum()


def _members(c: MultiBranchConfig, num_attributes: int) -> list[list[int]]:
    """Attribute indices of each group: from group_of, or contiguous runs of the group sizes."""
    if c.group_of:
        if len(c.group_of) != num_attributes:
            raise BadInput(f"group_of has {len(c.group_of)} entries for {num_attributes} attributes")
        return [[a for a, g in enumerate(c.group_of) if g == t] for t in range(len(c.groups))]
    bounds = [0]
    for size in c.groups:
        bounds.append(bounds[-1] + size)
    return [list(range(lo, hi)) for lo, hi in zip(bounds, bounds[1:])]
