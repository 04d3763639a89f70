"""pyiqa quality models: TOPIQ (NR, KonIQ-10k), HyperIQA, DBCNN, MUSIQ (KonIQ).

Every export has one input and one output:

* `pixel_values`: float32 `[batch, 3, H, W]`, preprocessed by Facet's onnx
  stage as the pipeline says (pipelines/16gb.yaml):
    - topiq-nr-koniq  384x384 squash, unit range, ImageNet mean/std
    - hyperiqa-koniq  224x224 centre crop, unit range, ImageNet mean/std
    - dbcnn-koniq     448x448 squash, unit range, ImageNet mean/std
    - musiq-koniq     512x384 (W x H) letterbox, unit range, no mean/std
* `score`: float32 `[batch, 1]`, the metric's own scale (pyiqa's
  score_range): 0-1 for TOPIQ, HyperIQA and DBCNN; 0-100 for MUSIQ.

pyiqa's archs normalise their input themselves (ImageNet mean/std); since
the stage has already done so, the export sets the archs' `default_mean` to
0 and `default_std` to 1 (MUSIQ's own `(x - 0.5) * 2` is kept: the pipeline
feeds it unit-range values, as pyiqa does).

Published weights: `pyiqa.create_metric(name)` (downloads from pyiqa's
release files). Random weights: the arch classes with `pretrained=False`,
and their ImageNet backbones (timm, torchvision) built without weights.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from common import IMAGENET, ExportError, Pre, network_hint, versions


@contextlib.contextmanager
def no_backbone_weights(job):
    """For --random-weights: timm and torchvision build backbones without
    weights, and pyiqa's unconditional sub-network loads (DBCNN's SCNN) are
    skipped. Outside --random-weights nothing is patched."""
    if not job.random:
        yield
        return
    import timm
    import torchvision

    import pyiqa.archs.dbcnn_arch as dbcnn_arch
    import pyiqa.archs.hypernet_arch as hypernet_arch
    import pyiqa.archs.topiq_arch as topiq_arch

    real_create = timm.create_model
    real_vgg16 = torchvision.models.vgg16
    real_load = dbcnn_arch.load_pretrained_network

    def create_model(name, pretrained=False, **kw):
        return real_create(name, pretrained=False, **kw)

    def vgg16(*a, **kw):
        kw.pop("weights", None)
        return real_vgg16(weights=None)

    def skip_load(*a, **kw):
        job.notes.append("random weights: skipped pyiqa load_pretrained_network"
                         f" ({a[1] if len(a) > 1 else kw.get('model_path')})")

    saved = [(timm, "create_model", real_create), (torchvision.models, "vgg16", real_vgg16),
             (dbcnn_arch, "load_pretrained_network", real_load)]
    timm.create_model = create_model
    for mod in (hypernet_arch, topiq_arch):
        saved.append((mod.timm, "create_model", real_create))
    torchvision.models.vgg16 = vgg16
    dbcnn_arch.load_pretrained_network = skip_load
    try:
        yield
    finally:
        for mod, name, f in saved:
            setattr(mod, name, f)


def _identity_norm(net):
    """The stage normalises; the arch must not do it again."""
    net.default_mean = torch.zeros(1, 3, 1, 1)
    net.default_std = torch.ones(1, 3, 1, 1)
    return net


class _StaticPoolF:
    """`torch.nn.functional` for an arch module, with adaptive pooling output
    sizes taken as Python ints: at a fixed input size they are constants,
    which the ONNX exporter needs (TOPIQ pools to the last level's shape)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def adaptive_avg_pool2d(self, x, size):
        return self._real.adaptive_avg_pool2d(x, tuple(int(s) for s in size))


@contextlib.contextmanager
def _static_pool(module):
    real = module.F
    module.F = _StaticPoolF(real)
    try:
        yield
    finally:
        module.F = real


def _pretrained(metric: str):
    import pyiqa

    try:
        return pyiqa.create_metric(metric, as_loss=False, device="cpu").net
    except Exception as e:  # noqa: BLE001 - any hub/network failure
        raise network_hint(e) from e


class Score(nn.Module):
    """`pixel_values` -> `score` [batch, 1]."""

    def __init__(self, net, fn=None):
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, pixel_values):
        out = self.fn(self.net, pixel_values) if self.fn else self.net(pixel_values)
        return out.reshape(pixel_values.shape[0], 1)


def _export_image(job, model: nn.Module, file: str, pre: Pre, dummy_batch: int = 2):
    model.eval()
    dummy = torch.from_numpy(job.images(pre, n=dummy_batch))
    path = job.export(model, (dummy,), file, "model", ["pixel_values"], ["score"],
                      {"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    feeds = {"pixel_values": job.images(pre, n=3)}
    job.verify(path, model, feeds)
    return path


def topiq(job):
    """TOPIQ NR (CFANet, ResNet-50 semantic backbone) trained on KonIQ-10k."""
    from pyiqa.archs.topiq_arch import CFANet

    job.source = ("pyiqa topiq_nr: CFANet(semantic_model_name='resnet50', "
                  "model_name='cfanet_nr_koniq_res50'), KonIQ-10k")
    with no_backbone_weights(job):
        if job.random:
            kw = dict(semantic_model_name="resnet50", inter_dim=256, num_heads=4)
            if job.small:
                kw = dict(semantic_model_name="resnet18", inter_dim=64, num_heads=2)
                job.notes.append("small: resnet18 semantic backbone, inter_dim 64, 2 heads")
            net = CFANet(model_name="cfanet_nr_koniq_res50", use_ref=False, pretrained=False,
                         backbone_pretrain=False, **kw)
        else:
            net = _pretrained("topiq_nr")
    net.test_img_size = None  # the pipeline's 384x384 is the input
    import pyiqa.archs.topiq_arch as topiq_arch

    with _static_pool(topiq_arch):
        _export_image(job, Score(_identity_norm(net)), "topiq-nr-koniq.onnx",
                      Pre(384, 384, "squash", "unit", **IMAGENET))
    return versions("pyiqa", "timm")


def hyperiqa(job):
    """HyperIQA (HyperNet, ResNet-50) on KonIQ-10k, one 224x224 patch.

    pyiqa averages 25 uniform 224 crops of the whole image at test time; the
    pipeline feeds one centre crop resized to 224, so the export is the
    network's own per-patch forward (`HyperNet.forward_patch`)."""
    from pyiqa.archs.hypernet_arch import HyperNet

    job.source = "pyiqa hyperiqa: HyperNet(base_model_name='resnet50'), KonIQ-10k (resnet50-koniq)"
    with no_backbone_weights(job):
        net = HyperNet(pretrained=False) if job.random else _pretrained("hyperiqa")
    if job.small:
        job.notes.append("small: HyperNet's layer sizes are fixed to ResNet-50; exported at full size")
    _export_image(job, Score(_identity_norm(net), lambda n, x: n.forward_patch(x)),
                  "hyperiqa-koniq.onnx", Pre(224, 224, "crop", "unit", **IMAGENET))
    return versions("pyiqa", "timm")


def dbcnn(job):
    """DBCNN (VGG-16 + SCNN, bilinear pooling) on KonIQ-10k."""
    from pyiqa.archs.dbcnn_arch import DBCNN

    job.source = "pyiqa dbcnn: DBCNN(pretrained='koniq'), VGG-16 + SCNN, KonIQ-10k"
    with no_backbone_weights(job):
        net = DBCNN(pretrained=False) if job.random else _pretrained("dbcnn")
    if job.small:
        job.notes.append("small: DBCNN's layer sizes are fixed (VGG-16 + SCNN); exported at full size")
    _export_image(job, Score(_identity_norm(net)), "dbcnn-koniq.onnx",
                  Pre(448, 448, "squash", "unit", **IMAGENET))
    return versions("pyiqa", "torchvision")


class _StaticMultiscale:
    """pyiqa's `get_multiscale_patches` for one fixed input size (H, W): the
    same resizes, patch extraction, hashed positions, scale ids, masks and
    zero padding, with every size a Python constant so that the traced graph
    only has a dynamic batch axis."""

    def __init__(self, h, w, patch_size=32, patch_stride=32, hse_grid_size=10,
                 longer_side_lengths=(224, 384), max_seq_len_from_original_res=None):
        from pyiqa.data.multiscale_trans_util import get_hashed_spatial_pos_emb_index

        self.k, self.s = patch_size, patch_stride
        self.parts = []  # (resize to or None, h, w, meta [3, L], max_len)
        sizes = [(sid, lsl, round(h * lsl / max(h, w)), round(w * lsl / max(h, w)))
                 for sid, lsl in enumerate(sorted(longer_side_lengths))]
        todo = [((rh, rw), rh, rw, sid, int(math.ceil(lsl / patch_stride) ** 2))
                for sid, lsl, rh, rw in sizes]
        if max_seq_len_from_original_res is not None:
            todo.append((None, h, w, len(sizes), max_seq_len_from_original_res))
        for size, hh, ww, sid, max_len in todo:
            ch, cw = math.ceil(hh / patch_stride), math.ceil(ww / patch_stride)
            pos = get_hashed_spatial_pos_emb_index(hse_grid_size, ch, cw)[0]
            meta = torch.stack([pos, torch.full_like(pos, sid), torch.ones_like(pos)])
            self.parts.append((size, hh, ww, meta, max_len))

    def __call__(self, image, **_):
        outs = []
        for size, h, w, meta, max_len in self.parts:
            x = image if size is None else F.interpolate(image, size, mode="bicubic",
                                                         align_corners=False)
            h2, w2 = math.ceil(h / self.s), math.ceil(w / self.s)
            pr = (h2 - 1) * self.s + self.k - h
            pc = (w2 - 1) * self.s + self.k - w
            x = F.pad(x, (pc // 2, pc - pc // 2, pr // 2, pr - pr // 2))
            p = F.unfold(x, self.k, 1, stride=self.s)
            out = torch.cat([p, torch.zeros_like(p[:, :3]) + meta.to(p)], 1)
            if max_len >= 0:
                n = out.shape[-1]
                out = F.pad(out, (0, max_len - n)) if max_len > n else out[:, :, :max_len]
            outs.append(out)
        return torch.cat(outs, -1).transpose(1, 2)


def _static_exact_padding_2d(x, kernel, stride=1, dilation=1, mode="same"):
    """pyiqa's exact_padding_2d with the (fixed) spatial size as constants."""
    from pyiqa.matlab_utils.padding import exact_padding_2d

    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    stride = (stride, stride) if isinstance(stride, int) else tuple(stride)
    dilation = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    h, w = int(x.shape[2]), int(x.shape[3])
    pr = (math.ceil(h / stride[0]) - 1) * stride[0] + (kernel[0] - 1) * dilation[0] + 1 - h
    pc = (math.ceil(w / stride[1]) - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1 - w
    if mode not in ("same", "constant"):
        return exact_padding_2d(x, kernel, stride, dilation, mode)
    return F.pad(x, (pc // 2, pc - pc // 2, pr // 2, pr - pr // 2))


@contextlib.contextmanager
def _static_musiq(h, w, opts):
    import pyiqa.archs.musiq_arch as musiq_arch
    import pyiqa.matlab_utils.padding as padding

    saved = [(musiq_arch, "get_multiscale_patches", musiq_arch.get_multiscale_patches),
             (musiq_arch, "exact_padding_2d", musiq_arch.exact_padding_2d),
             (padding, "exact_padding_2d", padding.exact_padding_2d)]
    musiq_arch.get_multiscale_patches = _StaticMultiscale(h, w, **opts)
    musiq_arch.exact_padding_2d = _static_exact_padding_2d
    padding.exact_padding_2d = _static_exact_padding_2d
    try:
        yield
    finally:
        for mod, name, f in saved:
            setattr(mod, name, f)


def musiq(job):
    """MUSIQ (multi-scale transformer) on KonIQ-10k at a fixed 512x384 input.

    pyiqa builds the multi-scale patch sequence from the input's size in
    Python (scales 224 and 384 on the longer side, plus the original
    resolution). For export that preprocessing is replaced by an equivalent
    one for the pipeline's fixed 512x384 (W x H) input (`_StaticMultiscale`:
    the same bicubic resizes, 32x32 patches, hashed positions, scale ids and
    zero padding to 49 + 144 patches, plus the 192 original-resolution
    patches), and pyiqa's "same" padding of the stem convs uses constant
    sizes; the ONNX output is checked against pyiqa's unmodified code path.
    The input must therefore be exactly 512x384; the batch axis is dynamic."""
    from pyiqa.archs.musiq_arch import MUSIQ

    job.source = "pyiqa musiq: MUSIQ(pretrained='koniq10k'), KonIQ-10k"
    with no_backbone_weights(job):
        if job.random:
            kw = {}
            if job.small:
                kw = dict(hidden_size=64, mlp_dim=128, num_heads=2, num_layers=2)
                job.notes.append("small: hidden 64, mlp 128, 2 heads, 2 layers")
            net = MUSIQ(pretrained=False, **kw)
        else:
            net = _pretrained("musiq")
    pre = Pre(512, 384, "letterbox", "unit")
    model = Score(net).eval()
    with _static_musiq(384, 512, net.data_preprocess_opts):
        dummy = torch.from_numpy(job.images(pre, n=2))
        path = job.export(model, (dummy,), "musiq-koniq.onnx", "model", ["pixel_values"],
                          ["score"], {"pixel_values": {0: "batch"}, "score": {0: "batch"}})
    # checked against pyiqa's own (dynamic) patch extraction
    job.verify(path, model, {"pixel_values": job.images(pre, n=3)})
    return versions("pyiqa")


RECIPES = {
    "topiq-nr-koniq": topiq,
    "hyperiqa-koniq": hyperiqa,
    "dbcnn-koniq": dbcnn,
    "musiq-koniq": musiq,
}

__all__ = ["RECIPES", "ExportError"]
