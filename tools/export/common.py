"""Shared machinery of the exporters: the job a recipe runs in, the input
images (preprocessed exactly as Facet's `onnx` stage does), ONNX export,
PyTorch-vs-ONNX Runtime verification, and the report.

Conventions every image recipe follows (they are what `stages/src/onnx`
feeds and reads):

* one input, `pixel_values`, float32 NCHW `[batch, 3, height, width]`, with a
  dynamic batch axis; the pipeline's `size` is `[width, height]`;
* the values are already preprocessed by the stage (resize, `range`, `mean`,
  `std` from the pipeline file), so the graph never normalises again: a
  wrapper undoes or replaces any normalisation the PyTorch model does itself;
* every output is `[batch, k]` float32 and named as the pipeline's `outputs:`
  map names it (`score`, `image_embeds`, `aesthetic`, `pattern`, ...).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

OPSET = 17
# the checkout's ../shared/photos/objects, when there is one
DEFAULT_IMAGES = str(Path(__file__).resolve().parents[2].parent / "shared" / "photos" / "objects")


class ExportError(Exception):
    """A failure the CLI reports as one clear line (exit status 2)."""


# ---------------------------------------------------------------------------
# Preprocessing: the same arithmetic as stages/src/onnx/preprocess.rs
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Pre:
    """The `with:` preprocessing of a pipeline's onnx stage."""

    width: int
    height: int
    resize: str = "squash"  # squash | crop | letterbox
    range: str = "unit"  # unit | byte | symmetric
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple = (1.0, 1.0, 1.0)
    crop_fraction: float = 1.0

    def resized(self, img: Image.Image) -> Image.Image:
        w, h = self.width, self.height
        img = img.convert("RGB")
        sw, sh = img.size
        if self.resize == "squash":
            return img.resize((w, h), Image.BILINEAR)
        if self.resize == "crop":
            aspect = w / h
            full_w = min(sw, sh * aspect)
            cw = full_w * self.crop_fraction
            ch = cw / aspect
            x0, y0 = (sw - cw) / 2, (sh - ch) / 2
            return img.resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        if self.resize == "letterbox":
            f = min(w / sw, h / sh)
            iw = min(max(round(sw * f), 1), w)
            ih = min(max(round(sh * f), 1), h)
            out = Image.new("RGB", (w, h), (0, 0, 0))
            out.paste(img.resize((iw, ih), Image.BILINEAR), ((w - iw) // 2, (h - ih) // 2))
            return out
        raise ValueError(f"unknown resize {self.resize}")

    def tensor(self, img: Image.Image) -> np.ndarray:
        """`[3, height, width]` float32, as the stage writes it."""
        x = np.asarray(self.resized(img), dtype=np.float32)
        if self.range == "unit":
            x = x / 255.0
        elif self.range == "symmetric":
            x = x / 127.5 - 1.0
        x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
OPENAI_CLIP = dict(mean=(0.48145466, 0.4578275, 0.40821073),
                   std=(0.26862954, 0.26130258, 0.27577711))


# ---------------------------------------------------------------------------
# No downloads with --random-weights
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def offline(active: bool):
    """With `active`, any attempt to fetch weights raises instead of reaching
    the network (torch.hub, timm, Hugging Face hub)."""
    if not active:
        yield
        return
    import torch.hub

    def refuse(*a, **k):
        raise ExportError(f"a download was attempted with --random-weights: {a[:1]}")

    saved = {}
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    old_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    targets = [(torch.hub, "load_state_dict_from_url"), (torch.hub, "download_url_to_file")]
    for mod, name in targets:
        saved[(mod, name)] = getattr(mod, name)
        setattr(mod, name, refuse)
    try:
        yield
    finally:
        for (mod, name), f in saved.items():
            setattr(mod, name, f)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def network_hint(e: Exception) -> ExportError:
    return ExportError(
        f"could not load the published weights ({type(e).__name__}: {e}). "
        "This needs internet access to the model hub; without it, run with "
        "--random-weights to export the same architecture with random weights."
    )


# ---------------------------------------------------------------------------
# The job
# ---------------------------------------------------------------------------

def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Job:
    """What a recipe is asked to do, and what it produced."""

    recipe: str
    out_dir: Path
    random: bool
    small: bool
    check_images: str | None = None
    options: dict = field(default_factory=dict)
    opset: int = OPSET
    source: str = ""
    files: list = field(default_factory=list)  # (final name, temp path, role)
    max_abs_diff: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    # -- files -------------------------------------------------------------
    def temp_path(self, name: str, role: str) -> Path:
        """A temporary path in the output folder for the file `name`; it is
        renamed to `name` by `commit` once everything is verified."""
        final = self.out_dir / name
        if final.exists():
            raise ExportError(f"{final} already exists; not overwriting it")
        tmp = self.work_dir() / name
        self.files.append((name, tmp, role))
        return tmp

    def work_dir(self) -> Path:
        """A private folder inside the output folder for the temporary files."""
        d = self.out_dir / f".facet-export-{os.getpid()}"
        d.mkdir(exist_ok=True)
        return d

    def write_text(self, name: str, text: str, role: str) -> Path:
        p = self.temp_path(name, role)
        p.write_text(text, encoding="utf-8")
        return p

    def commit(self) -> list:
        """Moves every temporary file to its name (never over an existing
        file) and returns the report's `files`."""
        out = []
        for name, tmp, role in self.files:
            final = self.out_dir / name
            try:
                os.link(tmp, final)  # never replaces an existing file
            except FileExistsError:
                raise ExportError(f"{final} already exists; not overwriting it") from None
            os.unlink(tmp)
            out.append({"file": name, "sha256": sha256(final),
                        "bytes": final.stat().st_size, "role": role})
        self.files = []
        self.cleanup()
        return out

    def cleanup(self):
        import shutil

        shutil.rmtree(self.out_dir / f".facet-export-{os.getpid()}", ignore_errors=True)

    # -- images ------------------------------------------------------------
    def images(self, pre: Pre, n: int = 3) -> np.ndarray:
        """`[n, 3, h, w]` float32 from the check images, preprocessed as the stage does."""
        folder = self.check_images or DEFAULT_IMAGES
        paths = sorted(p for ext in ("png", "jpg", "jpeg", "PNG", "JPG", "JPEG")
                       for p in glob.glob(os.path.join(folder, f"*.{ext}")))
        if not paths and self.check_images is None:
            if "synthetic check images" not in self.notes:
                self.notes.append("synthetic check images")
            return np.stack([pre.tensor(_synthetic(i)) for i in range(n)])
        if not paths:
            raise ExportError(f"no check images (*.png, *.jpg) in {folder}")
        paths = paths[:n]
        while len(paths) < n:
            paths.append(paths[0])
        return np.stack([pre.tensor(Image.open(p)) for p in paths])

    # -- export and verification ---------------------------------------------
    def export(self, module, args: tuple, name: str, role: str, input_names: list,
               output_names: list, dynamic_axes: dict) -> Path:
        """torch.onnx.export of `module(*args)` into a temp file for `name`."""
        import onnx
        import torch

        path = self.temp_path(name, role)
        module.eval()
        # nn.MultiheadAttention's fused fast path has no ONNX export
        torch.backends.mha.set_fastpath_enabled(False)
        size = sum(t.numel() * t.element_size()
                   for t in list(module.parameters()) + list(module.buffers()))
        scratch = self.work_dir() / f"scratch-{name}"
        scratch.mkdir()
        target = scratch / name
        kw = dict(input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                  opset_version=self.opset, do_constant_folding=True)
        with torch.no_grad():
            if size > 1.8 * 2**30:
                # the exporter's shape inference serialises the whole model,
                # which protobuf refuses over 2 GiB: export without it
                from torch.onnx.utils import _export

                _export(module, args, str(target), onnx_shape_inference=False, **kw)
            else:
                torch.onnx.export(module, args, str(target), **kw)
        import shutil

        if len(list(scratch.iterdir())) == 1:
            os.replace(target, path)
        else:
            # over 2 GiB: the exporter wrote external data; keep it as one
            # NAME.data file beside the model (ONNX Runtime loads it from there)
            data = f"{name}.data"
            if (self.out_dir / data).exists():
                raise ExportError(f"{self.out_dir / data} already exists; not overwriting it")
            self.files.append((data, path.parent / data, "external_data"))
            model = onnx.load(str(target))
            onnx.save_model(model, str(path), save_as_external_data=True,
                            all_tensors_to_one_file=True, location=data, size_threshold=1024)
            del model
            self.notes.append(f"{name} is over 2 GiB: its weights are in {data} "
                              "(ONNX external data, loaded from the same folder)")
        shutil.rmtree(scratch)
        onnx.checker.check_model(str(path))
        return path

    def verify(self, path: Path, module, feeds: dict, label: str = "") -> dict:
        """Runs `module` (PyTorch, on the feeds in order) and the ONNX file
        (ONNX Runtime, CPU) and records the max abs difference per output."""
        import onnxruntime as ort
        import torch

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        got = sess.run(names, feeds)
        with torch.no_grad():
            want = module(*[torch.from_numpy(v) for v in feeds.values()])
        if isinstance(want, torch.Tensor):
            want = (want,)
        want = [w for w in _flatten(want)]
        if len(want) != len(got):
            raise ExportError(f"{path.name}: PyTorch gives {len(want)} outputs, ONNX {len(got)}")
        diffs = {}
        for n, g, w in zip(names, got, want):
            w = w.detach().float().numpy()
            if g.shape != w.shape:
                raise ExportError(f"{path.name}: output {n} has shape {g.shape} in ONNX, {w.shape} in PyTorch")
            d = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)))) if g.size else 0.0
            if not np.isfinite(d):
                raise ExportError(f"{path.name}: output {n} is not finite")
            diffs[f"{label}{n}"] = d
        self.max_abs_diff.update(diffs)
        return diffs


def _synthetic(i: int) -> Image.Image:
    """A deterministic 640x480 test picture (gradients and noise)."""
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:480, 0:640] / np.array([480.0, 640.0])[:, None, None]
    img = np.stack([x, y, (x + y) / 2], -1) * 255 * rng.uniform(0.5, 1.0, 3)
    img = img + rng.normal(0, 20, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _flatten(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _flatten(y)
    else:
        yield x


def versions(*modules) -> dict:
    out = {}
    for m in ("torch", "onnx", "onnxruntime", "numpy", *modules):
        try:
            mod = __import__(m)
            out[m] = getattr(mod, "__version__", "?")
        except Exception:  # noqa: BLE001 - a missing optional package is reported as such
            out[m] = None
    return out


class Timer:
    def __enter__(self):
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *a):
        self.seconds = time.monotonic() - self.t0
