"""Backward formulas of the fused custom ops, in plain PyTorch (so torch.compile can trace them).

channel attention:  a = mean_hw(x) [+ max_hw(x)];  u = W1 a + b1;  z = relu(u);  s = sigmoid(W2 z + b2);
                    y = t * s          (t = x when not given)
spatial gate:       g = sigmoid(w . x + b);  y = x * g
The max's gradient is shared evenly among tied maxima, as torch.amax does. fp16 inputs are
differentiated in float32 and the gradients cast back.
"""
from __future__ import annotations

import torch


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def channel_attention_setup(ctx, inputs, output) -> None:
    x, w1, b1, w2, b2, t, use_max = inputs
    ctx.use_max = bool(use_max)
    ctx.has_t = t is not None
    ctx.save_for_backward(x, w1, b1, w2, b2, *([t] if t is not None else []))


def channel_attention_backward(ctx, gy: torch.Tensor):
    x, w1, b1, w2, b2, *rest = ctx.saved_tensors
    t = rest[0] if ctx.has_t else None
    ct = _compute_dtype(x.dtype)
    xf, gyf = x.to(ct), gy.to(ct)
    w1f, b1f, w2f, b2f = (w.to(ct) for w in (w1, b1, w2, b2))
    a = xf.mean(dim=(2, 3))
    if ctx.use_max:
        a = a + xf.amax(dim=(2, 3))
    u = a @ w1f.t() + b1f
    z = torch.relu(u)
    s = torch.sigmoid(z @ w2f.t() + b2f)
    tf = xf if t is None else t.to(ct)
    gv = (gyf * tf).sum(dim=(2, 3)) * s * (1 - s)  # (N, C): through the sigmoid
    gu = (gv @ w2f) * (u > 0).to(ct)  # (N, hidden): through FC2 and the relu
    ga = gu @ w1f  # (N, C): into the pooled vector
    gx = (ga / (x.shape[2] * x.shape[3]))[:, :, None, None].expand_as(xf)
    if ctx.use_max:
        mask = (xf == xf.amax(dim=(2, 3), keepdim=True)).to(ct)
        gx = gx + ga[:, :, None, None] * mask / mask.sum(dim=(2, 3), keepdim=True)
    g_scale = gyf * s[:, :, None, None]
    if t is None:
        gx, gt = gx + g_scale, None
    else:
        gt = g_scale.to(t.dtype)
    return (gx.to(x.dtype), (gu.t() @ a).to(w1.dtype), gu.sum(0).to(b1.dtype), (gv.t() @ z).to(w2.dtype),
            gv.sum(0).to(b2.dtype), gt, None)


def spatial_gate_setup(ctx, inputs, output) -> None:
    x, w, b = inputs
    ctx.w_shape, ctx.b_shape = w.shape, b.shape
    ctx.save_for_backward(x, w, output[1])


def spatial_gate_backward(ctx, gy: torch.Tensor | None, gg: torch.Tensor | None):
    x, w, g = ctx.saved_tensors
    ct = _compute_dtype(x.dtype)
    xf, gf = x.to(ct), g.to(ct)
    wf = w.to(ct).reshape(1, -1, 1, 1)
    total = torch.zeros_like(gf)
    if gy is not None:
        total = total + (gy.to(ct) * xf).sum(dim=1, keepdim=True)
    if gg is not None:
        total = total + gg.to(ct)
    gl = total * gf * (1 - gf)  # (N, 1, H, W): through the sigmoid
    gx = gl * wf
    if gy is not None:
        gx = gx + gy.to(ct) * gf
    gw = (gl * xf).sum(dim=(0, 2, 3)).reshape(ctx.w_shape)
    gb = gl.sum().reshape(ctx.b_shape)
    return gx.to(x.dtype), gw.to(w.dtype), gb.to(w.dtype)
