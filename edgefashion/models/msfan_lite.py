"""msfan_lite: MSFAN's multi-staged attention (papers/msfan-*.txt) on EfficientNet-Lite stages.

The backbone is timm's ``tf_efficientnet_lite*`` (ReLU6, no squeeze-excite: INT8- and
edge-accelerator friendly), optionally with offline ImageNet weights (``pretrained=``). As in MSFAN:

- lateral connections on Lite stages 1, 2, 3 (strides 4, 8, 16; 24, 40, 112 channels at Lite0):
  1x1 convs bring stages 1-2 to the anchor's width (stage 3 already is), a sigmoid spatial gate
  on each (``gate{i}`` outputs);
- top-down: concat(gated level, upsampled refined level above) -> 1x1 conv halving channels ->
  GAP+GMP channel attention (r = 2) whose map scales the gated level;
- the refined levels, pooled to the anchor's resolution, multiplied element-wise and added to the
  anchor stage's features, which then run the last stage (stride 32) and the 1280-channel head;
- two heads (category, attributes) on the globally pooled head features.

Output "cam" (N, 1, S/32, S/32) in [0, 1]: a class activation map, each head-feature position's
exact share of the top logit (models/layers.py ``head_with_cam``) of the category head, or of the
attribute head when there is one category only (``cam="auto"``; a single category's logit is
never trained). On real photos the sigmoid gates light up the background around the garment and the
cam points at it (benchmarks/map_in_box.py), so the overlays use the cam.

Stage 3 (stride 16) plays VGG's conv4: the last stage plays conv5. ``product``:
"plain" is the paper's product, which at initialisation is ~1e-7 (a product of three maps
each gated by two sigmoids) and vanishes in fp16; "normalized" (default) batch-normalises each
pooled level, multiplies (1 + n_i) and subtracts 1 - the product's interactions, unit scale -
then scales by a learned per-channel factor initialised small, so a pretrained backbone starts
undisturbed and the attention still gets gradient.

``landmarks=True`` adds a heatmap landmark head (models/landmark_head.py) on the anchor's refined
features and Lite stages 2 and 1: output "landmarks" (N, 8, 3), normalised (x, y, confidence), as
landmark_attention's, trained with its heatmap L2 plus the soft-argmax distance.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgefashion.errors import BadInput
from edgefashion.labels.landmarks import LANDMARK_NAMES
from edgefashion.models.attention import ChannelAttention, SpatialGate
from edgefashion.models.landmark_head import LandmarkHead, default_loss, landmark_loss, read_landmarks
from edgefashion.models.layers import head_with_cam, is_tracing, normalise_cam, pooled_head
from edgefashion.models.pretrained import PretrainedMixin
from edgefashion.models.registry import register_model
from edgefashion.models.timm_backbones import LITE_FAMILIES, LiteBackbone
from edgefashion.models.contract import GarmentModule, check_input_size

ANCHOR = 3        # the Lite stage whose output receives the product (stride 16)
PRODUCTS = ("normalized", "plain")
CAM_SOURCES = ("auto", "category", "attributes", "none")


@dataclass(frozen=True)
class MSFANLiteConfig:
    backbone: str = "efficientnet_lite0"   # efficientnet_lite0 | 1 | 2 (timm tf_*)
    pretrained: str | None = None          # weights spec (models.weights); resolved at build only
    width: float = 1.0                     # channel multiplier (1.0 with pretrained weights)
    input_size: int = 224
    stages: tuple[int, ...] = (1, 2, 3)    # Lite stages with lateral attention; must include 3
    pooling: tuple[str, ...] = ("gap", "gmp")
    reduction: int = 2
    product: str = "normalized"            # "plain": the paper's product (see module docstring)
    product_scale_init: float = 0.1        # initial learned scale of the normalized product
    head_dim: int = 512                    # 0: a linear classifier on the pooled features
    dropout: float = 0.2
    drop_path: float = 0.0                 # timm stochastic depth in the backbone (training only)
    landmarks: bool = False                # a heatmap landmark head (stride 4) -> "landmarks"
    cam: str = "auto"                      # "cam" of the category / attribute head, or "none"
    heatmap_sigma: float = 0.04            # Gaussian target sigma, fraction of the input side
    softargmax_beta: float = 40.0          # sharpness of the soft-argmax reading the heatmaps
    landmark_weight: float = 100.0         # heatmap L2 weight (a mean over all pixels)
    landmark_coord_weight: float = 5.0     # weight of the soft-argmax normalized distance

    def __post_init__(self) -> None:
        stages = tuple(sorted(set(int(s) for s in self.stages)))
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "pooling", tuple(self.pooling))
        if self.backbone not in LITE_FAMILIES:
            raise BadInput(f"backbone {self.backbone!r} must be one of {', '.join(LITE_FAMILIES)}")
        if not stages or not set(stages) <= {0, 1, 2, 3} or ANCHOR not in stages:
            raise BadInput(f"stages {self.stages} must be a subset of (0, 1, 2, 3) that includes 3")
        if self.pooling not in (("gap", "gmp"), ("gap",)):
            raise BadInput(f"pooling {self.pooling} must be ('gap', 'gmp') or ('gap',)")
        if isinstance(self.cam, bool):  # --model-opt cam=false / cam=true
            object.__setattr__(self, "cam", "auto" if self.cam else "none")
        if self.cam not in CAM_SOURCES:
            raise BadInput(f"cam {self.cam!r} must be one of {', '.join(CAM_SOURCES)}")
        if self.product not in PRODUCTS:
            raise BadInput(f"product {self.product!r} must be one of {', '.join(PRODUCTS)}")
        check_input_size(self.input_size, "Lite strides to 1/32")
        if self.reduction < 1 or self.head_dim < 0 or not 0 <= self.dropout < 1:
            raise BadInput(f"reduction {self.reduction} must be >= 1, head_dim {self.head_dim} >= 0, "
                           f"dropout {self.dropout} in [0, 1)")
        if self.heatmap_sigma <= 0 or self.softargmax_beta <= 0 or self.landmark_weight < 0 \
                or self.landmark_coord_weight < 0:
            raise BadInput(f"heatmap_sigma {self.heatmap_sigma} and softargmax_beta "
                           f"{self.softargmax_beta} must be > 0, landmark_weight "
                           f"{self.landmark_weight} and landmark_coord_weight "
                           f"{self.landmark_coord_weight} >= 0")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stages"], d["pooling"] = list(self.stages), list(self.pooling)
        return d


@register_model("msfan_lite")
class MSFANLite(PretrainedMixin, GarmentModule):
    config_class = MSFANLiteConfig
    tiny_config = {"width": 0.25, "input_size": 64, "head_dim": 32}
    shared_pooled_heads = True  # both heads read the pooled features (training.head_warmup)

    def __init__(self, num_categories: int, num_attributes: int, **cfg) -> None:
        super().__init__()
        self.cfg = c = MSFANLiteConfig(**cfg)
        self.num_categories, self.num_attributes = num_categories, num_attributes
        self.backbone = LiteBackbone(c.backbone, c.pretrained, c.width, c.drop_path)
        chans, strides = self.backbone.stage_channels, self.backbone.stage_strides
        dim = chans[ANCHOR]
        use_max = "gmp" in c.pooling
        self.lateral = nn.ModuleDict({str(i): nn.Conv2d(chans[i], dim, 1) for i in c.stages if i != ANCHOR})
        self.gates = nn.ModuleDict({str(i): SpatialGate(dim) for i in c.stages})
        self.fuse = nn.ModuleDict({str(i): nn.Conv2d(2 * dim, dim, 1) for i in c.stages if i != ANCHOR})
        self.channel_att = nn.ModuleDict({str(i): ChannelAttention(dim, c.reduction, use_max)
                                          for i in c.stages})
        self._strides = {i: strides[i] for i in c.stages}
        if c.product == "normalized":
            self.level_norm = nn.ModuleDict({str(i): nn.BatchNorm2d(dim) for i in c.stages})
            self.product_scale = nn.Parameter(torch.full((1, dim, 1, 1), float(c.product_scale_init)))
        feat = self.backbone.out_channels
        self.category_head = pooled_head(feat, c.head_dim, num_categories, c.dropout)
        self.attribute_head = pooled_head(feat, c.head_dim, num_attributes, c.dropout)
        # heatmaps at stride 4: the anchor (stride 16) upsampled through stages 2 and 1
        self.landmark_head = LandmarkHead(dim, [chans[2], chans[1]], len(LANDMARK_NAMES)) \
            if c.landmarks else None
        self._set_weights_info(self.backbone.weights_info, c.backbone)
        self.cam_source = _cam_source(c.cam, num_categories, num_attributes)

    @property
    def output_names(self) -> list[str]:
        lm = ["landmarks"] if self.cfg.landmarks else []
        cam = ["cam"] if self.cam_source else []
        return ["category_logits", "attribute_logits"] + lm + [f"gate{i}" for i in self.cfg.stages] + cam

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image: (N, 3, S, S) -> category_logits (N, C), attribute_logits (N, A),
        gate{i} (N, 1, S/s_i, S/s_i) in [0, 1] for s_i = 4, 8, 16 (stages 1, 2, 3);
        cam (N, 1, S/32, S/32) in [0, 1] unless ``cam="none"``;
        with ``landmarks``: landmarks (N, 8, 3) normalised (x, y, confidence)."""
        out = self._run(image)
        out.pop("landmark_heatmaps", None)
        return out

    def training_forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """forward plus, with ``landmarks``, "landmark_heatmaps" (N, 8, S/4, S/4) for the loss."""
        return self._run(batch["image"])

    def make_loss(self, schema, train_samples, train_cfg) -> nn.Module:
        """The default category + attribute loss; with ``landmarks`` plus the landmark terms."""
        c = self.cfg
        if not c.landmarks:
            return default_loss(schema, train_samples, train_cfg)
        return landmark_loss(schema, train_samples, train_cfg, c.landmark_weight, c.heatmap_sigma,
                             c.landmark_coord_weight)

    def _run(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        s = self.cfg.input_size
        if not is_tracing() and (image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != s
                                 or image.shape[-2] != s):
            raise BadInput(f"msfan_lite expects (N, 3, {s}, {s}); got {tuple(image.shape)}")
        bb = self.backbone
        x, levels = bb.stem(image), {}
        for i in range(ANCHOR + 1):
            x = bb.stage(i, x)
            levels[i] = x
        product, gates = self._attend(levels)
        anchor = levels[ANCHOR] + product
        x = bb.head(bb.stage(ANCHOR + 1, anchor))
        pooled = x.mean(dim=(2, 3))
        logits, cam = {}, None
        for key, head in (("category", self.category_head), ("attributes", self.attribute_head)):
            if key == self.cam_source:
                logits[key], cam = head_with_cam(head, x, pooled)
            else:
                logits[key] = head(pooled)
        out = {"category_logits": logits["category"], "attribute_logits": logits["attributes"]}
        if self.landmark_head is not None:
            heat = self.landmark_head(anchor, [levels[2], levels[1]])
            out["landmarks"] = read_landmarks(heat, self.cfg.softargmax_beta)
            out["landmark_heatmaps"] = heat
        out.update({f"gate{i}": gates[i] for i in self.cfg.stages})
        if cam is not None:
            out["cam"] = normalise_cam(cam)
        return out

    def _attend(self, levels: dict[int, torch.Tensor]):
        """Top-down spatial + channel attention -> (product at the anchor's resolution, gates)."""
        refined, gates, above, prev = {}, {}, None, None
        for i in sorted(self.cfg.stages, reverse=True):
            lat = levels[i] if i == ANCHOR else self.lateral[str(i)](levels[i])
            gated, gates[i] = self.gates[str(i)](lat)
            if above is None:
                fused = gated
            else:  # a static scale factor keeps the exported graph free of shape arithmetic
                factor = self._strides[prev] // self._strides[i]
                up = F.interpolate(above, scale_factor=factor, mode="nearest")
                fused = self.fuse[str(i)](torch.cat([gated, up], dim=1))
            refined[i] = self.channel_att[str(i)](fused, gated)
            above, prev = refined[i], i
        return self._product(refined), gates

    def _product(self, refined: dict[int, torch.Tensor]) -> torch.Tensor:
        normalized = self.cfg.product == "normalized"
        product = None
        for i, r in refined.items():
            factor = self._strides[ANCHOR] // self._strides[i]
            r = F.avg_pool2d(r, factor) if factor > 1 else r
            if normalized:
                r = 1.0 + self.level_norm[str(i)](r)
            product = r if product is None else product * r
        return self.product_scale * (product - 1.0) if normalized else product


def _cam_source(cam: str, num_categories: int, num_attributes: int) -> str | None:
    """Which head's top logit the cam explains: "category", "attributes" or None."""
    if cam == "auto":
        return "attributes" if num_categories < 2 and num_attributes > 0 else "category"
    if cam == "attributes" and num_attributes == 0:
        raise BadInput("cam='attributes' needs an attribute head, and this model has 0 attributes; "
                       "use cam='category' or 'auto'")
    return None if cam == "none" else cam

