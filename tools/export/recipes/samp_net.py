"""SAMP-Net composition assessment (Saliency-Augmented Multi-pattern Pooling).

Model: Zhang, Niu, Zhang et al., "Image Composition Assessment with
Saliency-augmented Multi-pattern Pooling", BMVC 2021. The authors' code and
released checkpoint `samp_net.pth` (ResNet-18, patterns 1-8, saliency,
pattern weights, attribute branch with channel attention; trained on CADB)
are at bcmi/Image-Composition-Assessment-with-SAMP, under the authors'
licence. This file is a re-implementation of that released configuration for
export, written for this project (no code of theirs is vendored); its
parameter names follow the authors' module layout so that the checkpoint
loads with every key matching (checked; a mismatch is an error).

ONNX interface (`samp_net.onnx`, pipelines/legacy|8gb|16gb|24gb.yaml):
  input  `pixel_values` float32 [batch, 3, 384, 384]: 384x384 squash, unit
         range, ImageNet mean/std (the reference's samp_net.input_size 384)
  output `pattern` float32 [batch, 14]: logits over the labels of
         pipelines/models/samp-net-patterns.txt, mapped from SAMP-Net's 8
         pattern-weight logits (see PATTERN_LABELS; labels SAMP-Net has no
         pattern for get -1e4, so softmax gives them 0; the two triangle
         patterns are merged with logsumexp)
  output `score` float32 [batch, 5]: composition score logits over 1..5
         (the network's softmax is left to the stage: `activation: softmax`,
         `as: distribution_mean`)

The network takes a saliency map besides the image. The authors compute it
with OpenCV's spectral-residual static saliency; here it is computed inside
the graph from the (de-normalised) input with the same algorithm (grey,
64x64, 2-D DFT as constant matrix products, log-amplitude minus its 3x3 mean,
inverse DFT, squared magnitude, Gaussian blur, max-normalised, resized to
224x224), so the stage feeds only the image. What changed for export: the
pattern poolings use precomputed index tables and exact adaptive max-pool
bins (constant gathers) instead of data-independent Python index building;
this is numerically the same computation at a fixed input size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import IMAGENET, ExportError, Pre, network_hint, versions

WEIGHTS_URL = ("https://github.com/bcmi/Image-Composition-Assessment-with-SAMP/"
               "releases/download/v1.0/samp_net.pth")
LABELS = ["none", "center", "rule_of_thirds", "golden_ratio", "triangle", "horizontal",
          "vertical", "diagonal", "symmetric", "curved", "radial", "vanishing_point",
          "pattern", "fill_frame"]
# SAMP-Net pattern (1-8) -> reference label
PATTERN_LABELS = {1: "horizontal", 2: "vertical", 3: "triangle", 4: "triangle", 5: "center",
                  6: "symmetric", 7: "diagonal", 8: "rule_of_thirds"}
SAL = 56  # saliency side inside the pooling module (224 / 4)
INPUT = 384


# ---------------------------------------------------------------------------
# Saliency: OpenCV's StaticSaliencySpectralResidual, as a graph
# ---------------------------------------------------------------------------

def _gauss(size, sigma):
    x = np.arange(size) - (size - 1) / 2
    k = np.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


class SpectralResidual(nn.Module):
    def __init__(self, mean, std, side=64, out=224):
        super().__init__()
        n = np.arange(side)
        ang = 2 * np.pi * np.outer(n, n) / side
        self.register_buffer("cos", torch.tensor(np.cos(ang), dtype=torch.float32))
        self.register_buffer("sin", torch.tensor(np.sin(ang), dtype=torch.float32))
        g = torch.tensor(_gauss(5, 8.0), dtype=torch.float32)
        self.register_buffer("gauss", (g[:, None] * g[None, :])[None, None])
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.register_buffer("grey", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))
        self.side, self.out = side, out

    def forward(self, x):
        rgb = x * self.std + self.mean
        g = (rgb * self.grey).sum(1, keepdim=True) * 255.0
        g = F.interpolate(g, size=(self.side, self.side), mode="bilinear", align_corners=False)
        c, s = self.cos, self.sin
        re = c @ g @ c - s @ g @ s  # forward DFT, W = C - iS
        im = -(c @ g @ s + s @ g @ c)
        mag = torch.sqrt(re * re + im * im) + 1e-8
        log_a = torch.log(mag)
        blur = F.avg_pool2d(F.pad(log_a, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
        k = torch.exp(log_a - blur) / mag
        p, q = re * k, im * k
        u = c @ p - s @ q  # inverse DFT (no scaling), W* = C + iS
        v = c @ q + s @ p
        yr = u @ c - v @ s
        yi = u @ s + v @ c
        m = torch.sqrt(yr * yr + yi * yi)
        m = F.conv2d(F.pad(m, (2, 2, 2, 2), mode="reflect"), self.gauss)
        m = m * m
        m = m / (m.amax(dim=(2, 3), keepdim=True) + 1e-12)
        return F.interpolate(m, size=(self.out, self.out), mode="bilinear", align_corners=False)


# ---------------------------------------------------------------------------
# Multi-pattern pooling with saliency
# ---------------------------------------------------------------------------

def _bins(n_in, n_out):
    """Adaptive pooling bins: [floor(i*n/o), ceil((i+1)*n/o)), padded by repetition."""
    rows = []
    for i in range(n_out):
        a, b = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        rows.append(list(range(a, b)))
    width = max(map(len, rows))
    return torch.tensor([r + [r[-1]] * (width - len(r)) for r in rows])


def _amax_pool(x, out_h, out_w):
    """Exact adaptive max pooling of [B, C, H, W] by constant gathers."""
    b, c, h, w = x.shape
    if out_h != h:
        idx = _bins(h, out_h)
        x = x.index_select(2, idx.flatten()).view(b, c, out_h, idx.shape[1], w).amax(3)
    if out_w != w:
        idx = _bins(w, out_w)
        x = x.index_select(3, idx.flatten()).view(b, c, out_h, out_w, idx.shape[1]).amax(4)
    return x


def _region_means(x, masks):
    """Means of x [B, C, H, W] over each boolean mask [R, H, W] -> [B, C, R]."""
    m = masks.to(x.dtype).flatten(1)
    return x.flatten(2) @ (m / m.sum(1, keepdim=True)).t()


def _gather(s, masks):
    """Values of s [B, 1, H, W] at each mask's positions (row-major) -> list of [B, n]."""
    flat = s.flatten(1)
    return [flat.index_select(1, torch.nonzero(m.flatten()).flatten()) for m in masks]


def _tri(n):
    return torch.stack([torch.ones(n, n).triu(1), torch.ones(n, n).tril(-1)]).bool()


def _cross(n):
    ones = torch.ones(n, n)
    up_flip = ones.triu(0).flip(-1)
    lw_flip = ones.tril(0).flip(-1)
    # regions in the order left, up, low, right
    return torch.stack([up_flip.tril(0), up_flip.triu(0), lw_flip.tril(0), lw_flip.triu(0)]).bool()


def _surround(n):
    a, b = int(n / 2 - n / 4), int(n / 2 + n / 4)
    inside = torch.zeros(n, n, dtype=torch.bool)
    inside[a:b, a:b] = True
    return torch.stack([inside, ~inside])


class Pattern(nn.Module):
    """One SAMP pattern: region features of the map, the saliency of each
    region, both laid out on the pattern's grid, then its conv."""

    SAL_LEN = {1: (SAL // 2) ** 2, 2: (SAL // 2) ** 2,
               3: (SAL * 3 // 4) * (SAL * 3 // 4 - 1) // 2,
               4: (SAL * 3 // 4) * (SAL * 3 // 4 - 1) // 2,
               5: (SAL // 2) ** 2, 6: (SAL // 2) ** 2,
               7: sum(range(SAL, 0, -2)), 8: (SAL // 3) ** 2}
    GRID = {1: (2, 1), 2: (1, 2), 3: (2, 1), 4: (2, 1), 5: (2, 1), 6: (2, 2), 7: (2, 2), 8: (3, 3)}

    def __init__(self, kind, feat_side):
        super().__init__()
        self.kind, self.n = kind, feat_side
        if kind in (3, 4):
            self.fmask, self.smask = _tri(feat_side), _tri(SAL * 3 // 4)
        elif kind == 5:
            self.fmask, self.smask = _surround(feat_side), _surround(SAL)
        elif kind == 7:
            self.fmask, self.smask = _cross(feat_side), _cross(SAL)

    def forward(self, x, s):
        k, b = self.kind, x.shape[0]
        gh, gw = self.GRID[k]
        if k == 4:  # the mirrored triangle: flip first (before the saliency's pooling)
            x, s = x.flip(-1), s.flip(-1)
        if k == 1:
            h = self.n // 2
            feat = torch.stack([x[:, :, :h].mean((2, 3)), x[:, :, h:].mean((2, 3))], 2)
            sd = F.max_pool2d(s, (1, 3), (1, 2), (0, 1))
            sal = torch.stack([sd[:, :, :SAL // 2].flatten(1), sd[:, :, SAL // 2:].flatten(1)], 2)
        elif k == 2:
            w = self.n // 2
            feat = torch.stack([x[..., :w].mean((2, 3)), x[..., w:].mean((2, 3))], 2)
            sd = F.max_pool2d(s, (3, 1), (2, 1), (1, 0))
            sal = torch.stack([sd[..., :SAL // 2].flatten(1), sd[..., SAL // 2:].flatten(1)], 2)
        elif k in (3, 4, 5, 7):
            feat = _region_means(x, self.fmask)
            if k in (3, 4):
                t = SAL * 3 // 4
                parts = _gather(_amax_pool(s, t, t), self.smask)
            else:
                parts = _gather(s, self.smask)
            if k == 5:  # the outside ring is max-pooled to the inside's length (ratio 3)
                parts[1] = parts[1].view(b, parts[0].shape[1], -1).amax(-1)
            sal = torch.stack(parts, 2)
            if k == 7:  # (left, up, low, right) on the 2x2 grid [[left, low], [up, right]]
                feat = feat[:, :, [0, 2, 1, 3]]
                sal = sal[:, :, [0, 2, 1, 3]]
        elif k == 6:
            feat = F.adaptive_avg_pool2d(x, (2, 2)).flatten(2)
            h = SAL // 2
            sal = torch.stack([s[:, :, :h, :h].flatten(1), s[:, :, :h, h:].flatten(1),
                               s[:, :, h:, :h].flatten(1), s[:, :, h:, h:].flatten(1)], 2)
        else:  # 8: thirds
            feat = F.adaptive_avg_pool2d(x, (3, 3)).flatten(2)
            t = (SAL // 3) * 3
            sd = _amax_pool(s, t, t)
            c = SAL // 3
            sal = torch.stack([sd[:, :, r * c:(r + 1) * c, q * c:(q + 1) * c].flatten(1)
                               for r in range(3) for q in range(3)], 2)
        feat = feat.reshape(b, -1, gh, gw)
        sal = sal.reshape(b, -1, gh, gw)
        return torch.cat([feat, sal], 1)


class SAMPModule(nn.Module):
    def __init__(self, in_dim, out_dim, feat_side, patterns=range(1, 9)):
        super().__init__()
        self.pools = [Pattern(k, feat_side) for k in patterns]
        self.conv_list = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_dim + Pattern.SAL_LEN[k], out_dim, Pattern.GRID[k], bias=False),
                          nn.ReLU(True), nn.Flatten(1))
            for k in patterns)

    def forward(self, x, s, weights):
        outs = torch.stack([conv(pool(x, s)) for pool, conv in zip(self.pools, self.conv_list)], 2)
        return (outs * F.softmax(weights, 1).unsqueeze(1)).sum(2)


class SAMPNet(nn.Module):
    """ResNet-18 + SAMP + attribute-aware feature fusion (the released configuration)."""

    def __init__(self, input_size=INPUT, score_level=5, num_attributes=6, dropout=0.5):
        super().__init__()
        import torchvision

        resnet = torchvision.models.resnet18(weights=None)
        self.backbone = nn.Sequential(*list(resnet.children())[:-2])
        c, sal_dim = 512, 512
        out = c + sal_dim
        self.saliency_max = nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, 1))
        self.pattern_module = SAMPModule(c, out, feat_side=input_size // 32)
        self.pattern_weight_layer = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Dropout(dropout),
                                                  nn.Flatten(1), nn.Linear(c, 8, bias=False))
        att = 512
        self.att_feature_layer = nn.Sequential(nn.Linear(out, att, bias=False), nn.ReLU(True),
                                               nn.Dropout(dropout))
        self.att_pred_layer = nn.Sequential(nn.Linear(att, num_attributes, bias=False))
        self.com_feature_layer = nn.Sequential(nn.Linear(out, out - att, bias=False), nn.ReLU(True),
                                               nn.Dropout(dropout))
        self.alpha_predict_layer = nn.Sequential(nn.Linear(out, 2, bias=False), nn.Sigmoid())
        self.com_pred_layer = nn.Sequential(
            nn.Linear(out, out, bias=False), nn.ReLU(True), nn.Dropout(dropout),
            nn.Linear(out, c, bias=False), nn.ReLU(True), nn.Linear(c, score_level, bias=False))
        # (the authors' final nn.Softmax has no parameters; it is left to the stage)

    def forward(self, x, s):
        """x: normalised image; s: saliency [B, 1, 224, 224]. Returns the
        pattern-weight logits [B, 8], attribute predictions [B, 6], score logits [B, 5]."""
        fmap = self.backbone(x)
        weight = self.pattern_weight_layer(fmap)
        feat = self.pattern_module(fmap, self.saliency_max(s), weight)
        att = self.att_feature_layer(feat)
        com = self.com_feature_layer(feat)
        attribute = self.att_pred_layer(att)
        alpha = self.alpha_predict_layer(torch.cat([att, com], 1))
        fused = torch.cat([alpha[:, :1] * att, alpha[:, 1:] * com], 1)
        return weight, attribute, self.com_pred_layer(fused)


class Export(nn.Module):
    """`pixel_values` -> (`pattern` [B, 14], `score` [B, 5])."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.saliency = SpectralResidual(IMAGENET["mean"], IMAGENET["std"])
        m = torch.zeros(len(LABELS), 8)
        for k, label in PATTERN_LABELS.items():
            m[LABELS.index(label), k - 1] = 1.0
        self.register_buffer("map", m)

    def forward(self, pixel_values):
        weight, _, score = self.net(pixel_values, self.saliency(pixel_values))
        # logsumexp over the SAMP patterns of each label; about -1e4 where there are none
        z = weight.unsqueeze(1) + (self.map.unsqueeze(0) - 1.0) * 1e4
        pattern = torch.logsumexp(z, -1)
        return pattern, score


def _load_released(net):
    try:
        state = torch.hub.load_state_dict_from_url(WEIGHTS_URL, map_location="cpu", progress=False)
    except Exception as e:  # noqa: BLE001
        raise network_hint(e) from e
    if isinstance(state, nn.Module):
        state = state.state_dict()
    for key in ("state_dict", "model", "params"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items()
             if not k.endswith(("feat_mask", "sal_mask"))}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ExportError(f"samp_net.pth does not fit the re-implementation: missing {missing}, "
                          f"unexpected {unexpected}")


def samp_net(job):
    job.source = ("SAMP-Net (bcmi/Image-Composition-Assessment-with-SAMP, BMVC 2021), "
                  "released samp_net.pth (ResNet-18, CADB); re-implemented in tools/export")
    torch.manual_seed(0)
    net = SAMPNet()
    if job.small:
        job.notes.append("small: SAMP-Net's released configuration (ResNet-18) is its smallest; "
                         "exported at full size")
    if not job.random:
        _load_released(net)
    model = Export(net).eval()
    pre = Pre(INPUT, INPUT, "squash", "unit", **IMAGENET)
    dummy = torch.from_numpy(job.images(pre, n=2))
    path = job.export(model, (dummy,), "samp_net.onnx", "model", ["pixel_values"],
                      ["pattern", "score"], {"pixel_values": {0: "batch"}, "pattern": {0: "batch"},
                                             "score": {0: "batch"}})
    job.verify(path, model, {"pixel_values": job.images(pre, n=3)})
    job.extra["pattern_labels"] = {f"samp_pattern_{k}": v for k, v in PATTERN_LABELS.items()}
    return versions("torchvision")


RECIPES = {"samp-net": samp_net}

