"""M2Fashion: attribute-aware spatial and channel attention (papers/m2fashion-*.txt).

ResNet-50 features I, reduced to ``dim`` (512) channels by a 1x1 conv. The known attribute states
A (N, K) in {+1 present, -1 absent, 0 unknown} -- an optional second input, zeros by default --
are embedded twice, T1 = tanh(W_a1 A + b) and T2 = tanh(W_a2 A + b) (eq. 1, 6).
Attribute-aware spatial attention (eq. 2-5): alpha = softmax_hw(tanh(W_v2 (tanh(W_v1 I) * T1)));
the attended map alpha * I is pooled by GMP (the paper's change to ASEN's sum pooling; the map is
multiplied by h*w first so that a uniform alpha gives plain GMP) into V_s.
Attribute-aware channel attention (eq. 7-8): V_c = sigmoid(W_c2 sigmoid(W_c1 [T2, V_s])) * V_s.
Z = W V_c + b (eq. 9) feeds the category and attribute classifiers; the L2-normalised Z is the
"embedding" used for (attribute-specific) retrieval. Label-mask training (section 3.3) and the
triplet loss (section 3.4) are ``training_forward`` / ``make_loss`` (M2FashionLoss).

Outputs: category_logits (N, C), attribute_logits (N, K), attention (N, 1, h, w) -- the spatial
softmax divided by its per-image maximum, so the most attended cell is 1 and a uniform map is all
ones -- and embedding (N, dim).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.models.layers import is_tracing as _tracing
from edgefashion.models.backbones import RESNET50_BLOCKS, ResNetFeatures, load_torchvision_weights
from edgefashion.models.registry import register_model
from edgefashion.models.contract import GarmentModule, check_input_size, check_width

POOLINGS = ("gmp", "gap")


@dataclass(frozen=True)
class M2FashionConfig:
    width: float = 1.0                      # ResNet channel multiplier (CPU tests: 0.125)
    input_size: int = 224
    blocks: tuple[int, ...] = RESNET50_BLOCKS
    dim: int = 512                          # reduced feature / attribute embedding / Z size
    spatial_attention: bool = True          # ablation "w/o ASA": GMP of I instead
    channel_attention: bool = True          # ablation "w/o ACA": V_c = V_s
    pooling: str = "gmp"                    # "gap": ASEN's sum of alpha * I (Table 2's GAP row)
    dropout: float = 0.0                    # before the two classifiers
    mask_min: float = 0.25                  # label-mask training hides 25 % .. 100 % of labels
    mask_max: float = 1.0
    triplet_weight: float = 0.5             # gamma in eq. 15
    triplet_margin: float = 0.2
    triplet_positive: str = "auto"          # "attribute" (the paper), "category", "auto"
    backbone_weights: str | None = None     # local torchvision resnet50 .pth; never downloaded

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        check_input_size(self.input_size, "ResNet stride 32")
        check_width(self.width)
        if self.dim < 1:
            raise BadInput(f"dim {self.dim} must be >= 1")
        if self.pooling not in POOLINGS:
            raise BadInput(f"pooling {self.pooling!r} must be one of {POOLINGS}")
        if not 0 <= self.mask_min <= self.mask_max <= 1:
            raise BadInput(f"mask_min {self.mask_min} / mask_max {self.mask_max} must satisfy "
                           "0 <= mask_min <= mask_max <= 1")
        if self.triplet_positive not in ("auto", "attribute", "category"):
            raise BadInput(f"triplet_positive {self.triplet_positive!r} must be 'auto', 'attribute' "
                           "or 'category'")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        return d


class AttributeEmbedding(nn.Module):
    """T = tanh(W A + b): (N, K) attribute states -> (N, dim). ``None`` (nothing known) = tanh(b)."""

    def __init__(self, num_attributes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, num_attributes) * max(num_attributes, 1) ** -0.5)
        self.bias = nn.Parameter(torch.randn(dim) * 0.5)

    def forward(self, known: torch.Tensor | None, n: int) -> torch.Tensor:
        if known is None or self.weight.shape[1] == 0:
            return torch.tanh(self.bias).unsqueeze(0).expand(n, -1)
        return torch.tanh(F.linear(known, self.weight, self.bias))


@register_model("m2fashion")
class M2Fashion(GarmentModule):
    config_class = M2FashionConfig
    tiny_config = {"width": 0.125, "input_size": 64, "blocks": (1, 1, 1, 1), "dim": 32}

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = c = M2FashionConfig(**cfg)
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.backbone = ResNetFeatures(c.width, c.blocks)
        load_torchvision_weights(self.backbone, c.backbone_weights, "ResNet-50")
        d = c.dim
        self.reduce = nn.Conv2d(self.backbone.out_channels, d, 1)
        self.embed_spatial = AttributeEmbedding(num_attributes, d)     # W_a1
        self.embed_channel = AttributeEmbedding(num_attributes, d)     # W_a2
        self.image_proj = nn.Conv2d(d, d, 1)                           # W_v1
        self.attention_logit = nn.Conv2d(d, 1, 1)                      # W_v2
        self.channel_fc1 = nn.Linear(2 * d, d)                         # W_c1
        self.channel_fc2 = nn.Linear(d, d)                             # W_c2
        self.project = nn.Linear(d, d)                                 # eq. 9
        self.dropout = nn.Dropout(c.dropout)
        with warnings.catch_warnings():  # a schema without attributes gives an empty classifier
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.category_head = nn.Linear(d, num_categories)
            self.attribute_head = nn.Linear(d, num_attributes)

    @property
    def config(self) -> dict:
        return {"name": self.model_name, **self.cfg.to_dict(), "backbone_weights": None}

    @property
    def input_names(self) -> list[str]:
        return ["image", "known"] if self.num_attributes else ["image"]

    @property
    def output_names(self) -> list[str]:
        att = ["attention"] if self.cfg.spatial_attention else []
        return ["category_logits", "attribute_logits", *att, "embedding"]

    def example_inputs(self, batch: int) -> dict[str, torch.Tensor]:
        s = self.cfg.input_size
        out = {"image": torch.randn(batch, 3, s, s)}
        if self.num_attributes:
            out["known"] = torch.zeros(batch, self.num_attributes)
        return out

    def forward(self, image: torch.Tensor, known: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S); known: (N, K) in {+1, -1, 0} or None (nothing known)."""
        if not _tracing():
            self._check(image, known)
        n = image.shape[0]
        feats = self.reduce(self.backbone(image))                        # I: (N, d, h, w)
        out: dict[str, torch.Tensor] = {}
        if self.cfg.spatial_attention:
            t1 = self.embed_spatial(known, n)[:, :, None, None]
            logits = torch.tanh(self.attention_logit(torch.tanh(self.image_proj(feats)) * t1))
            alpha = torch.softmax(logits.flatten(1), dim=1).view_as(logits)  # (N, 1, h, w)
            attended = feats * alpha
            if self.cfg.pooling == "gmp":
                v_s = torch.amax(attended, dim=(2, 3)) * (feats.shape[2] * feats.shape[3])
            else:
                v_s = attended.sum(dim=(2, 3))
            attention = alpha / torch.amax(alpha, dim=(2, 3), keepdim=True)
        else:
            v_s = torch.amax(feats, dim=(2, 3))
        if self.cfg.channel_attention:
            t2 = self.embed_channel(known, n)
            a_c = torch.sigmoid(self.channel_fc2(torch.sigmoid(self.channel_fc1(torch.cat([t2, v_s], 1)))))
            v_c = a_c * v_s
        else:
            v_c = v_s
        z = self.project(v_c)
        zd = self.dropout(z)
        out["category_logits"] = self.category_head(zd)
        out["attribute_logits"] = self.attribute_head(zd)
        if self.cfg.spatial_attention:
            out["attention"] = attention
        out["embedding"] = F.normalize(z, dim=1)
        return out

    def _check(self, image: torch.Tensor, known: torch.Tensor | None) -> None:
        s = self.cfg.input_size
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s or image.shape[-2] != s:
            raise BadInput(f"M2Fashion expects image (N, 3, {s}, {s}); got {tuple(image.shape)}")
        if known is not None and tuple(known.shape) != (image.shape[0], self.num_attributes):
            raise BadInput(f"known must be (N, {self.num_attributes}) = one state per attribute "
                           f"(+1 / -1 / 0) for each of the {image.shape[0]} images; got "
                           f"{tuple(known.shape)}")

    # ------------------------------------------------------------------ training
    def mask_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Label-mask training (section 3.3): (N, K) -> bool (N, K), True = hidden.

        Per sample a number in [ceil(mask_min K), floor(mask_max K)] of the K labels (all, known
        or not) is drawn and that many, chosen at random, are hidden (torch's RNG).
        """
        n, k = labels.shape
        if k == 0:
            return torch.zeros_like(labels, dtype=torch.bool)
        lo = min(k, math.ceil(self.cfg.mask_min * k))
        hi = max(lo, math.floor(self.cfg.mask_max * k))
        count = torch.randint(lo, hi + 1, (n, 1), device=labels.device)
        rank = torch.rand(n, k, device=labels.device).argsort(dim=1).argsort(dim=1)
        return rank < count

    def training_forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """Hide 25 %-100 % of each image's labels, feed the rest as ``known``; out["hidden"]."""
        labels = batch["attributes"]
        hidden = self.mask_labels(labels)
        known = torch.where(hidden, torch.zeros_like(labels), labels) if self.num_attributes else None
        out = self(batch["image"], known)
        out["hidden"] = hidden
        return out

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module:
        """Category CE + w_a * weighted BCE on the hidden labels + gamma * triplet loss (eq. 15)."""
        from edgefashion.data import attribute_matrix
        from edgefashion.losses.multitask import attribute_weights

        labels = attribute_matrix(train_samples, schema.num_attributes)
        w_pos, w_neg = attribute_weights(labels, train_cfg.unknown_labels)
        c = self.cfg
        return M2FashionLoss(w_pos, w_neg, train_cfg.w_category, train_cfg.w_attributes,
                             c.triplet_weight, c.triplet_margin, c.triplet_positive,
                             train_cfg.unknown_labels)


class M2FashionLoss(nn.Module):
    """L = w_c CE(category) + w_a BCE(hidden attributes) + gamma triplet(embedding)  (eq. 10-15).

    The attribute BCE (weighted by the training set's positive / negative ratio) counts only the
    labels that label-mask training hid from the model (``out["hidden"]``; all labels when absent)
    and whose ground truth is known (eq. 12: predict Y_u given Y_k).
    """

    def __init__(self, w_pos, w_neg, w_c: float = 1.0, w_a: float = 1.0, gamma: float = 0.5,
                 margin: float = 0.2, positive: str = "auto", unknown: tuple[int, ...] = (0,)) -> None:
        super().__init__()
        self.register_buffer("w_pos", torch.as_tensor(w_pos))
        self.register_buffer("w_neg", torch.as_tensor(w_neg))
        self.w_c, self.w_a, self.gamma, self.margin = w_c, w_a, gamma, margin
        self.positive, self.unknown = positive, tuple(sorted(set(unknown) | {0}))

    def forward(self, out: dict, batch: dict) -> dict:
        from edgefashion.losses.multitask import category_loss, weighted_bce

        labels = batch["attributes"]
        hidden = out.get("hidden")
        if hidden is not None:
            labels = torch.where(hidden, labels, torch.zeros_like(labels))
        l_c = category_loss(out["category_logits"], batch["category"])
        l_a = weighted_bce(out["attribute_logits"], labels, self.w_pos, self.w_neg, self.unknown)
        l_t = triplet_loss(out["embedding"], batch["category"], batch["attributes"], self.margin,
                           self.positive)
        return {"loss": self.w_c * l_c + self.w_a * l_a + self.gamma * l_t,
                "category": l_c, "attributes": l_a, "triplet": l_t}


def triplet_masks(categories: torch.Tensor, attributes: torch.Tensor | None = None,
                  positive: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """(N, N) bool masks of positive and negative pairs (never i == i).

    "attribute" (the paper): positives share at least one present attribute, negatives share
    none (both having some). "category": same / different known category. "auto": attributes
    when any image in the batch has a present attribute, else categories.
    """
    n = categories.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=categories.device)
    present = None if attributes is None else attributes == 1
    if present is not None and (positive == "attribute" or (positive == "auto" and bool(present.any()))):
        p = present.float()
        share = (p @ p.T) > 0
        has = present.any(1)
        both = has[:, None] & has[None, :]
        return share & ~eye, ~share & both
    known = categories >= 0
    both = known[:, None] & known[None, :]
    same = categories[:, None] == categories[None, :]
    return same & both & ~eye, ~same & both


def triplet_loss(embedding: torch.Tensor, categories: torch.Tensor,
                 attributes: torch.Tensor | None = None, margin: float = 0.2,
                 positive: str = "auto") -> torch.Tensor:
    """Batch-hard triplet ranking loss on cosine similarity (eq. 13-14).

    For every anchor with a positive and a negative in the batch: max(0, sim(a, n_hardest) -
    sim(a, p_hardest) + margin), averaged. (Eq. 14 as printed swaps the two similarities and eq. 13
    divides by a sum of norms; the text's aim, sim(a, p) > sim(a, n), is what is implemented.)
    A batch without a valid triplet gives a zero that still has a gradient path.
    """
    pos, neg = triplet_masks(categories, attributes, positive)
    valid = pos.any(1) & neg.any(1)
    if not bool(valid.any()):
        return embedding.sum() * 0.0
    z = F.normalize(embedding, dim=1)
    sim = z @ z.T
    hardest_pos = torch.where(pos, sim, torch.full_like(sim, float("inf"))).amin(1)
    hardest_neg = torch.where(neg, sim, torch.full_like(sim, float("-inf"))).amax(1)
    return F.relu(hardest_neg - hardest_pos + margin)[valid].mean()
