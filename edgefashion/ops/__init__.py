"""The fused attention operators and the switch that picks their implementation."""
from edgefashion.ops.channel_attention import channel_attention
from edgefashion.ops.impl import IMPLS, get_impl, set_impl
from edgefashion.ops.spatial_gate import spatial_gate

__all__ = ["channel_attention", "spatial_gate", "set_impl", "get_impl", "IMPLS"]
