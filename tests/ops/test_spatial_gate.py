"""Fused sigmoid spatial gate vs the PyTorch reference: every implementation, shape, dtype, layout."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgefashion import ops  # noqa: E402
from edgefashion.ops import fused  # noqa: E402,F401  (registers torch.ops.edgefashion.*)
from edgefashion.ops.reference import spatial_gate_ref  # noqa: E402
from tests.utils import tol  # noqa: E402

# (N, C, H, W): MSFAN stages scaled down for CPU time, C = 1, 1x1 spatial, odd sizes, an empty batch,
# more channels than the CUDA kernel keeps in registers (C = 1100).
SHAPES = [
    (2, 64, 28, 28),
    (1, 512, 14, 14),
    (2, 32, 56, 56),
    (2, 8, 5, 7),
    (3, 1, 4, 4),
    (2, 16, 1, 1),
    (1, 7, 3, 5),
    (1, 1100, 4, 6),
    (0, 8, 4, 4),
]
CUDA_SHAPES = SHAPES + [(1, 512, 28, 28), (8, 512, 28, 28), (1, 512, 112, 112), (2, 2100, 8, 8)]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def make_inputs(n, c, h, w, dtype=torch.float32, device="cpu", seed=0):
    """x N(0, 1); w like a 1x1 conv's default initialisation; b in the same range."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen)
    w_ = (torch.rand(c, generator=gen) * 2 - 1) / max(c, 1) ** 0.5
    b = (torch.rand(1, generator=gen) * 2 - 1) / max(c, 1) ** 0.5
    return tuple(v.to(device=device, dtype=dtype) for v in (x, w_, b))


def oracle(x, w, b):
    """The reference in float32 on the same inputs, rounded to the input dtype (the kernels compute
    in float32 and round y and g once)."""
    y, g = spatial_gate_ref(x.float(), w.float(), b.float())
    return y.to(x.dtype), g.to(x.dtype)


def assert_close(actual, expected, kind):
    for a, e in zip(actual, expected):
        assert a.shape == e.shape
        torch.testing.assert_close(a.float().cpu(), e.float().cpu(), **tol(kind))


def _ids(shapes):
    return ["x".join(map(str, s)) for s in shapes]


@pytest.mark.needs_ext
class TestCpuKernel:
    """edgefashion._C.spatial_gate_cpu on numpy buffers, NCHW and NHWC."""

    @pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    def test_parity(self, shape, kind):
        from edgefashion import _C

        x, w, b = make_inputs(*shape, dtype=DTYPES[kind])
        expected = oracle(x, w, b)
        y, g = _C.spatial_gate_cpu(x.numpy(), w.numpy(), b.numpy())
        assert_close((torch.from_numpy(y), torch.from_numpy(g)), expected, kind)
        y, g = _C.spatial_gate_cpu(np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy()), w.numpy(), b.numpy(),
                                   layout="nhwc")
        nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2)  # noqa: E731
        assert_close((nchw(y), nchw(g)), expected, kind)

    def test_mixed_weight_dtype_and_out_arguments(self):
        from edgefashion import _C

        x, w, b = make_inputs(2, 16, 6, 6)
        out, gate = np.full(x.shape, np.nan, np.float32), np.full((2, 1, 6, 6), np.nan, np.float32)
        y, g = _C.spatial_gate_cpu(x.numpy(), w.half().numpy(), b.half().numpy(), out=out, gate_out=gate)
        assert y is out and g is gate
        assert_close((torch.from_numpy(y), torch.from_numpy(g)), oracle(x, w.half(), b.half()), "fp32")

    @pytest.mark.parametrize("bad, message", [
        ("noncontig", "not C-contiguous"),
        ("w_shape", "w must have shape"),
        ("b_shape", "b must have shape"),
        ("dtype", "float32 or float16"),
        ("gate_out", "gate_out must match"),
    ])
    def test_bad_input_is_rejected_with_a_message(self, bad, message):
        from edgefashion import _C

        x, w, b = make_inputs(1, 8, 4, 6)
        args = dict(x=x.numpy(), w=w.numpy(), b=b.numpy())
        if bad == "noncontig":
            args["x"] = x.numpy()[:, ::2]
        elif bad == "w_shape":
            args["w"] = w.numpy()[:4].copy()
        elif bad == "b_shape":
            args["b"] = np.zeros(2, np.float32)
        elif bad == "dtype":
            args["x"] = x.numpy().astype(np.int32)
        else:
            args["gate_out"] = np.zeros((1, 8, 4, 6), np.float32)
        with pytest.raises(ValueError, match=message):
            _C.spatial_gate_cpu(**args)


def _custom_op(x, w, b):
    return torch.ops.edgefashion.spatial_gate(x, w, b)


@pytest.mark.needs_ext
class TestCustomOp:
    """torch.ops.edgefashion.spatial_gate and the public edgefashion.ops entry point on CPU tensors."""

    @pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    @pytest.mark.parametrize("layout", ["nchw", "channels_last", "noncontig"])
    def test_parity(self, shape, kind, layout):
        x, w, b = make_inputs(*shape, dtype=DTYPES[kind])
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        elif layout == "noncontig":
            x = torch.cat([x, x], dim=2)[:, :, ::2]
        expected = oracle(x, w, b)
        assert_close(_custom_op(x, w, b), expected, kind)
        with ops.set_impl("fused"):
            assert_close(ops.spatial_gate(x, w, b), expected, kind)

    @pytest.mark.parametrize("layout", ["nchw", "channels_last"])
    def test_opcheck(self, layout):
        x, w, b = make_inputs(2, 8, 5, 6)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        args = tuple(v.requires_grad_(True) for v in (x, w, b))
        torch.library.opcheck(torch.ops.edgefashion.spatial_gate.default, args)

    def test_gradcheck_float64(self):
        inputs = [v.requires_grad_(True) for v in make_inputs(2, 5, 3, 4, dtype=torch.float64, seed=3)]
        assert torch.autograd.gradcheck(_custom_op, inputs)

    def test_gradients_match_the_reference_in_float32(self):
        leaves = [v.requires_grad_(True) for v in make_inputs(2, 16, 6, 6)]
        gy, gg = torch.randn(2, 16, 6, 6), torch.randn(2, 1, 6, 6)
        y, g = _custom_op(*leaves)
        fused_grads = torch.autograd.grad((y * gy).sum() + (g * gg).sum(), leaves)
        y, g = spatial_gate_ref(*leaves)
        ref_grads = torch.autograd.grad((y * gy).sum() + (g * gg).sum(), leaves)
        for a, e in zip(fused_grads, ref_grads):
            torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-4)

    def test_torch_compile(self):
        x, w, b = make_inputs(2, 32, 7, 7)
        compiled = torch.compile(lambda *a: _custom_op(*a)[0] * 2, fullgraph=True)
        torch.testing.assert_close(compiled(x, w, b), 2 * oracle(x, w, b)[0], **tol("fp32"))


@pytest.mark.needs_cuda
@pytest.mark.needs_ext
class TestCuda:
    """The CUDA kernel through the custom op (device pointers + current stream)."""

    @pytest.mark.parametrize("shape", CUDA_SHAPES, ids=_ids(CUDA_SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    @pytest.mark.parametrize("layout", ["nchw", "channels_last"])
    def test_parity(self, shape, kind, layout):
        x, w, b = make_inputs(*shape, dtype=DTYPES[kind], device="cuda")
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        expected = oracle(x, w, b)
        assert_close(_custom_op(x, w, b), expected, kind)
        with ops.set_impl("fused"):
            assert_close(ops.spatial_gate(x, w, b), expected, kind)

    def test_unaligned_and_mixed_weight_dtype(self):
        x, w, b = make_inputs(2, 24, 10, 10, device="cuda")
        xs = torch.empty(x.numel() + 1, device="cuda")[1:].view_as(x).copy_(x)
        assert_close(_custom_op(xs, w.half(), b.half()), oracle(x, w.half(), b.half()), "fp32")

    def test_opcheck_and_compile(self):
        x, w, b = make_inputs(2, 32, 8, 8, device="cuda")
        torch.library.opcheck(torch.ops.edgefashion.spatial_gate.default, (x, w, b))
        compiled = torch.compile(lambda *a: _custom_op(*a)[1] + 1, fullgraph=True)
        torch.testing.assert_close(compiled(x, w, b), oracle(x, w, b)[1] + 1, **tol("fp32"))


def test_custom_op_export_emits_the_plugin_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from edgefashion.models.attention import SpatialGate

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = SpatialGate(16)

        def forward(self, x):
            y, g = self.gate(x)
            return y + 1, g

    def export(path, custom):
        ctx = fused.custom_op_export() if custom else torch.no_grad()
        with ctx, torch.no_grad():
            torch.onnx.export(Block().eval(), (torch.randn(1, 16, 8, 8),), str(path), dynamo=False, opset_version=17,
                              input_names=["x"], output_names=["y", "g"], dynamic_axes={"x": {0: "batch"}})
        return onnx.load(str(path))

    model = export(tmp_path / "custom.onnx", True)
    nodes = [n for n in model.graph.node if n.domain == "edgefashion"]
    assert [n.op_type for n in nodes] == ["SpatialGate"]
    assert len(nodes[0].input) == 3 and len(nodes[0].output) == 2
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs == {"plugin_namespace": b"edgefashion", "plugin_version": b"1"}
    assert nodes[0].output[1] == "g"  # the gate map is the model's output
    plain = export(tmp_path / "plain.onnx", False)
    assert not [n for n in plain.graph.node if n.domain == "edgefashion"]
    assert "Conv" in {n.op_type for n in plain.graph.node}
