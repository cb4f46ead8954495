"""Shared helpers for the data-stage tests (imported as a plain module, like runtime_helpers)."""
from __future__ import annotations

from pathlib import Path

SYNTH_PER_CATEGORY = 10  # images per category of the session's synthetic set

# A tiny DeepFashion-C set written by hand, in the release's layout (count, header, rows).
TINY = {
    "Anno/list_category_cloth.txt": """3
category_name  category_type
Blouse         1
Jeans          2
Dress          3
""",
    "Anno/list_attr_cloth.txt": """4
attribute_name  attribute_type
floral                       1
abstract chevron print       1
denim                        2
crew neck                    4
""",
    "Anno/list_category_img.txt": """4
image_name  category_label
img/Sheer_Pleated-Front_Blouse/img_00000001.jpg                        1
img/Sheer_Pleated-Front_Blouse/img_00000002.jpg                        1
img/Classic_Skinny_Jeans/img_00000001.jpg                              2
img/Floral_Maxi_Dress/img_00000001.jpg                                 3
""",
    "Anno/list_attr_img.txt": """4
image_name  attribute_labels
img/Sheer_Pleated-Front_Blouse/img_00000001.jpg  1 -1 -1  1
img/Sheer_Pleated-Front_Blouse/img_00000002.jpg  -1 0 -1 0
img/Classic_Skinny_Jeans/img_00000001.jpg  -1 -1 1 -1
img/Floral_Maxi_Dress/img_00000001.jpg  1 -1 -1 -1
""",
    "Anno/list_bbox.txt": """4
image_name  x_1  y_1  x_2  y_2
img/Sheer_Pleated-Front_Blouse/img_00000001.jpg                        072 079 232 273
img/Sheer_Pleated-Front_Blouse/img_00000002.jpg                        067 059 155 161
img/Classic_Skinny_Jeans/img_00000001.jpg                              010 020 110 290
img/Floral_Maxi_Dress/img_00000001.jpg                                 050 005 250 300
""",
    "Anno/list_landmarks.txt": """4
image_name  clothes_type  variation_type  landmark_visibility_1  landmark_location_x_1  landmark_location_y_1
img/Sheer_Pleated-Front_Blouse/img_00000001.jpg  1  1  0 146 102  0 173 095  0 094 242  1 205 255  0 136 229  2 177 232
img/Sheer_Pleated-Front_Blouse/img_00000002.jpg  1  2  0 100 070  0 120 070  0 080 120  0 140 120  0 090 150  0 130 150  0 000 000  0 000 000
img/Classic_Skinny_Jeans/img_00000001.jpg  2  1  0 030 025  0 090 025  0 040 280  0 080 280
img/Floral_Maxi_Dress/img_00000001.jpg  3  1  0 120 010  0 180 010  0 060 100  0 240 100  0 110 120  0 190 120  0 070 290  0 230 290
""",
    "Eval/list_eval_partition.txt": """4
image_name  evaluation_status
img/Sheer_Pleated-Front_Blouse/img_00000001.jpg                        train
img/Sheer_Pleated-Front_Blouse/img_00000002.jpg                        val
img/Classic_Skinny_Jeans/img_00000001.jpg                              train
img/Floral_Maxi_Dress/img_00000001.jpg                                 test
""",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root
