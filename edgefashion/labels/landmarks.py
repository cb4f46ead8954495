"""Landmark names: what a landmark model's points mean (shared by data readers and the runtime)."""
from __future__ import annotations

# The 8 landmark slots, in DeepFashion-C's full-body order. Upper-body garments use slots
# 0-3 and 6-7, lower-body garments slots 4-7 (see data/deepfashion.py for the mapping).
LANDMARK_NAMES = (
    "collar_left", "collar_right", "sleeve_left", "sleeve_right",
    "waist_left", "waist_right", "hem_left", "hem_right",
)
