"""Fused GAP+GMP channel attention vs the PyTorch reference: every implementation, shape, dtype, layout."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgefashion import ops  # noqa: E402
from edgefashion.ops import fused  # noqa: E402,F401  (registers torch.ops.edgefashion.*)
from edgefashion.ops.reference import channel_attention_ref  # noqa: E402
from tests.utils import tol  # noqa: E402

# (N, C, H, W, r): MSFAN stages scaled down for CPU time (the full 512-channel stages are in the
# benchmark and the CUDA tests), C = 1, 1x1 spatial, odd sizes, r other than 2, an empty batch.
SHAPES = [
    (2, 64, 28, 28, 2),
    (1, 512, 14, 14, 2),
    (2, 32, 56, 56, 2),
    (2, 8, 5, 7, 2),
    (3, 1, 4, 4, 1),
    (2, 16, 1, 1, 2),
    (1, 7, 3, 5, 3),
    (2, 6, 9, 9, 3),
    (0, 8, 4, 4, 2),
]
CUDA_SHAPES = SHAPES + [(1, 512, 28, 28, 2), (8, 512, 28, 28, 2), (1, 512, 112, 112, 2)]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def make_inputs(n, c, h, w, r, dtype=torch.float32, device="cpu", seed=0, with_t=False):
    """Activations N(0, 1); weights drawn like nn.Linear's default initialisation."""
    gen = torch.Generator().manual_seed(seed)
    hidden = max(1, c // r)
    x = torch.randn(n, c, h, w, generator=gen)
    t = torch.randn(n, c, h, w, generator=gen) if with_t else None
    w1 = (torch.rand(hidden, c, generator=gen) * 2 - 1) / c ** 0.5
    b1 = (torch.rand(hidden, generator=gen) * 2 - 1) / c ** 0.5
    w2 = (torch.rand(c, hidden, generator=gen) * 2 - 1) / hidden ** 0.5
    b2 = (torch.rand(c, generator=gen) * 2 - 1) / hidden ** 0.5
    cast = lambda v: None if v is None else v.to(device=device, dtype=dtype)  # noqa: E731
    return cast(x), cast(w1), cast(b1), cast(w2), cast(b2), cast(t)


def oracle(x, w1, b1, w2, b2, t, use_max):
    """The reference in float32 on the same (possibly fp16) inputs, rounded to the input dtype:
    the kernels accumulate in float32 and round once."""
    f = lambda v: None if v is None else v.float()  # noqa: E731
    return channel_attention_ref(f(x), f(w1), f(b1), f(w2), f(b2), f(t), use_max).to(x.dtype)


def assert_close(actual, expected, kind):
    torch.testing.assert_close(actual.float().cpu(), expected.float().cpu(), **tol(kind))


def _ids(shapes):
    return ["x".join(map(str, s[:4])) + f"-r{s[4]}" for s in shapes]


@pytest.mark.needs_ext
class TestCpuKernel:
    """edgefashion._C.channel_attention_cpu on numpy buffers, NCHW and NHWC."""

    @pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    @pytest.mark.parametrize("use_max, with_t", [(True, False), (False, True)], ids=["gap+gmp", "gap-with-t"])
    def test_parity(self, shape, kind, use_max, with_t):
        from edgefashion import _C

        x, w1, b1, w2, b2, t = make_inputs(*shape, dtype=DTYPES[kind], with_t=with_t)
        expected = oracle(x, w1, b1, w2, b2, t, use_max)
        y = _C.channel_attention_cpu(x.numpy(), w1.numpy(), b1.numpy(), w2.numpy(), b2.numpy(),
                                     None if t is None else t.numpy(), use_max)
        assert_close(torch.from_numpy(y), expected, kind)
        nhwc = lambda v: np.ascontiguousarray(v.permute(0, 2, 3, 1).numpy())  # noqa: E731
        y = _C.channel_attention_cpu(nhwc(x), w1.numpy(), b1.numpy(), w2.numpy(), b2.numpy(),
                                     None if t is None else nhwc(t), use_max, layout="nhwc")
        assert_close(torch.from_numpy(y).permute(0, 3, 1, 2), expected, kind)

    def test_fp16_weights_with_fp32_activations(self):
        from edgefashion import _C

        x, w1, b1, w2, b2, _ = make_inputs(2, 16, 6, 6, 2)
        half = [v.half() for v in (w1, b1, w2, b2)]
        y = _C.channel_attention_cpu(x.numpy(), *(v.numpy() for v in half))
        assert_close(torch.from_numpy(y), oracle(x, *half, None, True), "fp32")

    def test_out_argument_is_filled(self):
        from edgefashion import _C

        x, w1, b1, w2, b2, _ = make_inputs(1, 8, 4, 4, 2)
        out = np.full(x.shape, np.nan, dtype=np.float32)
        y = _C.channel_attention_cpu(x.numpy(), w1.numpy(), b1.numpy(), w2.numpy(), b2.numpy(), out=out)
        assert y is out and np.isfinite(out).all()

    @pytest.mark.parametrize("bad, message", [
        ("noncontig", "not C-contiguous"),
        ("w1_shape", "w1 must have shape"),
        ("dtype", "float32 or float16"),
        ("t_shape", "t must have the shape"),
        ("layout", "layout must be"),
    ])
    def test_bad_input_is_rejected_with_a_message(self, bad, message):
        from edgefashion import _C

        x, w1, b1, w2, b2, _ = make_inputs(1, 8, 4, 6, 2)
        args = dict(x=x.numpy(), w1=w1.numpy(), b1=b1.numpy(), w2=w2.numpy(), b2=b2.numpy())
        if bad == "noncontig":
            args["x"] = x.numpy()[:, :, :, ::2]
        elif bad == "w1_shape":
            args["w1"] = np.ascontiguousarray(w1.numpy()[:, :4])
        elif bad == "dtype":
            args["x"] = x.numpy().astype(np.float64)
        elif bad == "t_shape":
            args["t"] = np.zeros((1, 8, 4, 5), np.float32)
        else:
            args["layout"] = "nchw8"
        with pytest.raises(ValueError, match=message):
            _C.channel_attention_cpu(**args)


def _custom_op(x, w1, b1, w2, b2, t, use_max):
    return torch.ops.edgefashion.channel_attention(x, w1, b1, w2, b2, t, use_max)


@pytest.mark.needs_ext
class TestCustomOp:
    """torch.ops.edgefashion.channel_attention and the public edgefashion.ops entry point on CPU tensors."""

    @pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    @pytest.mark.parametrize("layout", ["nchw", "channels_last", "noncontig"])
    def test_parity(self, shape, kind, layout):
        x, w1, b1, w2, b2, t = make_inputs(*shape, dtype=DTYPES[kind], with_t=True)
        if layout == "channels_last":
            x, t = x.contiguous(memory_format=torch.channels_last), t.contiguous(memory_format=torch.channels_last)
        elif layout == "noncontig":
            x = torch.cat([x, x], dim=3)[..., ::2]
            t = t.transpose(2, 3).contiguous().transpose(2, 3)
        for tt in (None, t):
            expected = oracle(x, w1, b1, w2, b2, tt, True)
            y = _custom_op(x, w1, b1, w2, b2, tt, True)
            assert_close(y, expected, kind)
            with ops.set_impl("fused"):
                assert_close(ops.channel_attention(x, w1, b1, w2, b2, tt), expected, kind)

    def test_fused_switch_uses_the_kernel(self, monkeypatch):
        from edgefashion.ops import _kernels

        calls = []
        real = _kernels.channel_attention_kernel
        monkeypatch.setattr(_kernels, "channel_attention_kernel", lambda *a: calls.append(1) or real(*a))
        x, w1, b1, w2, b2, _ = make_inputs(1, 8, 4, 4, 2)
        with ops.set_impl("reference"):
            ops.channel_attention(x, w1, b1, w2, b2)
        assert not calls
        with ops.set_impl("fused"):
            ops.channel_attention(x, w1, b1, w2, b2)
        assert calls

    @pytest.mark.parametrize("with_t", [False, True])
    @pytest.mark.parametrize("layout", ["nchw", "channels_last"])
    def test_opcheck(self, with_t, layout):
        x, w1, b1, w2, b2, t = make_inputs(2, 8, 5, 6, 2, with_t=with_t)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        for v in (x, w1, b1, w2, b2, t):
            if v is not None:
                v.requires_grad_(True)
        torch.library.opcheck(torch.ops.edgefashion.channel_attention.default, (x, w1, b1, w2, b2, t, True))

    @pytest.mark.parametrize("use_max", [True, False])
    @pytest.mark.parametrize("with_t", [False, True])
    def test_gradcheck_float64_tie_free(self, use_max, with_t):
        n, c, h, w = 2, 4, 3, 3
        gen = torch.Generator().manual_seed(1)
        # distinct values 0.05 apart: the max is unique and stays so under gradcheck's perturbation
        x = (torch.randperm(n * c * h * w, generator=gen).double() * 0.05 - 1.8).reshape(n, c, h, w)
        _, w1, b1, w2, b2, t = make_inputs(n, c, h, w, 2, dtype=torch.float64, seed=2, with_t=with_t)
        inputs = [v.requires_grad_(True) for v in (x, w1, b1, w2, b2)]
        if t is not None:
            t.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda *a: _custom_op(*a[:5], t, use_max), inputs)

    def test_gradients_match_the_reference_in_float32(self):
        x, w1, b1, w2, b2, t = make_inputs(2, 16, 6, 6, 2, with_t=True)
        leaves = [v.requires_grad_(True) for v in (x, w1, b1, w2, b2, t)]
        gy = torch.randn_like(x)
        got = torch.autograd.grad(_custom_op(*leaves[:5], leaves[5], True), leaves, gy)
        ref = torch.autograd.grad(channel_attention_ref(*leaves[:5], leaves[5], True), leaves, gy)
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)

    def test_torch_compile(self):
        x, w1, b1, w2, b2, t = make_inputs(2, 32, 7, 7, 2, with_t=True)
        compiled = torch.compile(lambda *a: _custom_op(*a, True) * 2, fullgraph=True)
        assert_close(compiled(x, w1, b1, w2, b2, t), 2 * oracle(x, w1, b1, w2, b2, t, True), "fp32")


@pytest.mark.needs_cuda
@pytest.mark.needs_ext
class TestCuda:
    """The CUDA kernel through the custom op (device pointers + current stream)."""

    @pytest.mark.parametrize("shape", CUDA_SHAPES, ids=_ids(CUDA_SHAPES))
    @pytest.mark.parametrize("kind", ["fp32", "fp16"])
    @pytest.mark.parametrize("use_max", [True, False])
    @pytest.mark.parametrize("layout", ["nchw", "channels_last"])
    def test_parity(self, shape, kind, use_max, layout):
        x, w1, b1, w2, b2, t = make_inputs(*shape, dtype=DTYPES[kind], device="cuda", with_t=True)
        if layout == "channels_last":
            x, t = x.contiguous(memory_format=torch.channels_last), t.contiguous(memory_format=torch.channels_last)
        for tt in (None, t):
            expected = oracle(x, w1, b1, w2, b2, tt, use_max)
            assert_close(_custom_op(x, w1, b1, w2, b2, tt, use_max), expected, kind)
            with ops.set_impl("fused"):
                assert_close(ops.channel_attention(x, w1, b1, w2, b2, tt, use_max), expected, kind)

    def test_unaligned_and_mixed_weight_dtype(self):
        x, w1, b1, w2, b2, _ = make_inputs(2, 24, 10, 10, 2, device="cuda")
        xs = torch.empty(x.numel() + 1, device="cuda")[1:].view_as(x).copy_(x)  # 4-byte, not 16-byte aligned
        half = [v.half() for v in (w1, b1, w2, b2)]
        assert_close(_custom_op(xs, *half, None, True), oracle(x, *half, None, True), "fp32")

    def test_side_stream(self):
        x, w1, b1, w2, b2, _ = make_inputs(4, 64, 28, 28, 2, device="cuda")
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            y = _custom_op(x, w1, b1, w2, b2, None, True)
        torch.cuda.current_stream().wait_stream(s)
        assert_close(y, oracle(x, w1, b1, w2, b2, None, True), "fp32")

    def test_opcheck_and_compile(self):
        x, w1, b1, w2, b2, t = make_inputs(2, 32, 8, 8, 2, device="cuda", with_t=True)
        torch.library.opcheck(torch.ops.edgefashion.channel_attention.default, (x, w1, b1, w2, b2, t, True))
        compiled = torch.compile(lambda *a: _custom_op(*a, True) + 1, fullgraph=True)
        assert_close(compiled(x, w1, b1, w2, b2, t), oracle(x, w1, b1, w2, b2, t, True) + 1, "fp32")


@pytest.mark.needs_ext
def test_available_ops_and_kernel_report():


    table = fused.available_ops()
    x = torch.zeros(1, 2, 2, 2)
    assert set(table) == {"channel_attention", "spatial_gate"}
    assert table["channel_attention"].supports(x)
    assert not table["channel_attention"].supports(x.double())
    report = fused.kernel_report()
    assert report["channel_attention"] == {"cpu": True, "cuda": report["spatial_gate"]["cuda"]}


def test_custom_op_export_emits_the_plugin_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from edgefashion.models.attention import ChannelAttention


    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ca = ChannelAttention(16, reduction=2)

        def forward(self, x):
            return self.ca(x, x * 2)

    def export(path, custom):
        ctx = fused.custom_op_export() if custom else torch.no_grad()
        with ctx, torch.no_grad():
            torch.onnx.export(Block().eval(), (torch.randn(1, 16, 8, 8),), str(path), dynamo=False, opset_version=17,
                              input_names=["x"], dynamic_axes={"x": {0: "batch"}})
        return onnx.load(str(path))

    model = export(tmp_path / "custom.onnx", True)
    nodes = [n for n in model.graph.node if n.domain == "edgefashion"]
    assert [n.op_type for n in nodes] == ["ChannelAttention"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs == {"use_max": 1, "plugin_namespace": b"edgefashion", "plugin_version": b"1"}
    assert len(nodes[0].input) == 6  # x, w1, b1, w2, b2, t
    assert any(o.domain == "edgefashion" for o in model.opset_import)
    plain = export(tmp_path / "plain.onnx", False)
    assert not [n for n in plain.graph.node if n.domain == "edgefashion"]
    assert {"ReduceMean", "Sigmoid"} <= {n.op_type for n in plain.graph.node}
