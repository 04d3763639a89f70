"""Dual encoders from open_clip: SigLIP 2 (ViT-SO400M-16-SigLIP2-384, webli)
and CLIP ViT-L/14 (OpenAI weights) with the LAION aesthetic head.

Image towers (one input, as every Facet image model):
  `pixel_values` float32 [batch, 3, H, W], already resized and normalised
  by the stage:
    - siglip2-so400m-16-384-visual.onnx: 384x384 centre crop, `range: symmetric`
      (= open_clip's mean 0.5 / std 0.5)
    - clip-vit-l-14-aesthetic.onnx: 224x224 centre crop, unit range, OpenAI
      CLIP mean/std
  outputs `image_embeds` float32 [batch, D] (L2-normalised; D = 1152 / 768)
  and, for CLIP, `aesthetic` float32 [batch, 1]: the LAION
  improved-aesthetic-predictor MLP (sac+logos+ava1-l14-linearMSE, a 1-10
  score) applied to the normalised embedding, in the same graph.

Text towers (what stages/src/onnx/text.rs feeds):
  `input_ids` int64 [batch, L] with a fixed L (77 for CLIP, 64 for SigLIP 2),
  padded with the tokenizer.json's padding id; no attention mask (neither
  model uses one: CLIP pools at the end-of-text token, the highest id;
  SigLIP 2 pools the last position); output `text_embeds` float32
  [batch, D], L2-normalised.

Tokenizers (Hugging Face `tokenizers` JSON, specials added by `encode`,
truncation and padding set to L):
  - clip-vit-l-14-tokenizer.json: CLIP's byte-level BPE built from the
    vocabulary open_clip ships (bpe_simple_vocab_16e6), so it is the real one
    even with random weights; pad id 0 as open_clip pads.
  - siglip2-tokenizer.json: with published weights, the Gemma tokenizer of
    timm/ViT-SO400M-16-SigLIP2-384 with open_clip's `canonicalize` cleaning
    (lowercase, punctuation removed) prepended as normalizers; with random
    weights, a small BPE trained on generated text with the same special
    token layout (<pad>=0, <eos>=1, <bos>=2, <unk>=3) and cleaning.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random as pyrandom
import string
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common import OPENAI_CLIP, ExportError, Pre, network_hint, versions

CHECK_TEXTS = ["a photo of a dog", "a photo of a red car parked on the street",
               "sunset over the sea", "Portrait_of a Woman, (smiling)!"]


class ImageTower(nn.Module):
    def __init__(self, model, head=None):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, pixel_values):
        emb = self.model.encode_image(pixel_values)
        emb = emb / emb.norm(dim=-1, keepdim=True)
        if self.head is None:
            return emb
        return emb, self.head(emb)


class TextTower(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        emb = self.model.encode_text(input_ids)
        return emb / emb.norm(dim=-1, keepdim=True)


def _export_text(job, model, tok_json: str, file: str, length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tok_json)
    ids = np.array([e.ids for e in tok.encode_batch(CHECK_TEXTS)], dtype=np.int64)
    if ids.shape[1] != length:
        raise ExportError(f"tokenizer pads to {ids.shape[1]}, the text tower takes {length}")
    tower = TextTower(model).eval()
    path = job.export(tower, (torch.from_numpy(ids[:2]),), file, "text_model", ["input_ids"],
                      ["text_embeds"], {"input_ids": {0: "batch"}, "text_embeds": {0: "batch"}})
    job.verify(path, tower, {"input_ids": ids}, label="text.")
    return ids


def _export_image(job, tower, file: str, pre: Pre, outputs: list):
    dummy = torch.from_numpy(job.images(pre, n=2))
    dyn = {"pixel_values": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
    path = job.export(tower.eval(), (dummy,), file, "model", ["pixel_values"], outputs, dyn)
    job.verify(path, tower, {"pixel_values": job.images(pre, n=3)}, label="image.")


# ---------------------------------------------------------------------------
# CLIP ViT-L/14 + LAION aesthetic MLP
# ---------------------------------------------------------------------------

def clip_tokenizer_json(length: int = 77) -> str:
    """CLIP's tokenizer as `tokenizers` JSON, from the BPE file open_clip ships."""
    import open_clip
    from transformers import CLIPTokenizerFast
    from transformers.models.clip.tokenization_clip import bytes_to_unicode

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        fast = CLIPTokenizerFast(vocab_file=str(Path(tmp) / "vocab.json"),
                                 merges_file=str(Path(tmp) / "merges.txt"),
                                 from_slow=True)
    from tokenizers import decoders

    tok = fast.backend_tokenizer
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.enable_truncation(max_length=length)
    tok.enable_padding(pad_id=0, pad_token=vocab[0], length=length)
    return tok.to_str(pretty=False)


def clip_vit_l_14(job):
    import open_clip
    from pyiqa.archs.laion_aes_arch import MLP

    job.source = ("open_clip ViT-L-14 pretrained='openai' (OpenAI CLIP) + LAION "
                  "improved-aesthetic-predictor MLP sac+logos+ava1-l14-linearMSE (via pyiqa)")
    if job.random:
        if job.small:
            cfg = dict(embed_dim=768, quick_gelu=True,
                       vision_cfg=dict(image_size=224, layers=2, width=64, patch_size=14, head_width=32),
                       text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2, layers=2))
            model = open_clip.CLIP(**cfg)
            job.notes.append("small: open_clip CLIP with 2-layer, width-64 towers projected to "
                             "the real embed_dim 768")
        else:
            model = open_clip.create_model("ViT-L-14-quickgelu", pretrained=None)
        head = MLP(model.visual.output_dim)
    else:
        try:
            model = open_clip.create_model("ViT-L-14", pretrained="openai")
            from pyiqa.archs.arch_util import load_pretrained_network
            from pyiqa.archs.laion_aes_arch import default_model_urls

            head = MLP(model.visual.output_dim)
            load_pretrained_network(head, default_model_urls["url"])
        except Exception as e:  # noqa: BLE001
            raise network_hint(e) from e
    model.eval()
    head.eval()
    tok_json = clip_tokenizer_json(77)
    mism = _clip_tokenizer_mismatches(tok_json)
    if mism:
        job.notes.append(f"tokenizer.json differs from open_clip.tokenize on: {mism}")
    _export_image(job, ImageTower(model, head), "clip-vit-l-14-aesthetic.onnx",
                  Pre(224, 224, "crop", "unit", **OPENAI_CLIP), ["image_embeds", "aesthetic"])
    _export_text(job, model, tok_json, "clip-vit-l-14-text.onnx", 77)
    job.write_text("clip-vit-l-14-tokenizer.json", tok_json, "tokenizer")
    job.extra["tokenizer_mismatches"] = mism
    return versions("open_clip", "pyiqa", "tokenizers", "transformers")


def _clip_tokenizer_mismatches(tok_json: str) -> list:
    import open_clip
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tok_json)
    want = open_clip.tokenize(CHECK_TEXTS).numpy()
    got = np.array([e.ids for e in tok.encode_batch(CHECK_TEXTS)])
    return [t for t, w, g in zip(CHECK_TEXTS, want, got) if not (w == g).all()]


# ---------------------------------------------------------------------------
# SigLIP 2
# ---------------------------------------------------------------------------

SIGLIP2 = "ViT-SO400M-16-SigLIP2-384"
SIGLIP2_HUB = "timm/ViT-SO400M-16-SigLIP2-384"
PUNCT = "[" + "".join("\\" + c for c in string.punctuation) + "]"


def _canonicalize_normalizers():
    """open_clip's canonicalize_text as tokenizers normalizers."""
    from tokenizers import Regex, normalizers

    return [normalizers.Replace("_", " "), normalizers.Replace(Regex(PUNCT), ""),
            normalizers.Lowercase(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]


def _finish_siglip_tokenizer(tok, eos: str | None, bos: str | None, length: int) -> str:
    from tokenizers import normalizers, processors

    tail = [tok.normalizer] if tok.normalizer is not None else []
    tok.normalizer = normalizers.Sequence(_canonicalize_normalizers() + tail)
    single = " ".join(([bos] if bos else []) + ["$A"] + ([eos] if eos else []))
    specials = [(t, tok.token_to_id(t)) for t in (bos, eos) if t]
    tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=specials)
    tok.enable_truncation(max_length=length)
    tok.enable_padding(pad_id=tok.token_to_id("<pad>"), pad_token="<pad>", length=length)
    return tok.to_str(pretty=False)


def _siglip_tokenizer_pretrained(length: int) -> str:
    from huggingface_hub import hf_hub_download
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(hf_hub_download(SIGLIP2_HUB, "tokenizer.json"))
    conf = json.loads(Path(hf_hub_download(SIGLIP2_HUB, "tokenizer_config.json")).read_text())
    bos = conf.get("bos_token") if conf.get("add_bos_token", False) else None
    eos = conf.get("eos_token") if conf.get("add_eos_token", False) else None
    return _finish_siglip_tokenizer(tok, eos, bos, length)


def _siglip_tokenizer_random(vocab_size: int, length: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    rng = pyrandom.Random(0)
    words = ("a photo of the dog cat bird car bike tree house sky sea beach people man woman "
             "child city street food flower mountain river night sunset portrait landscape "
             "red blue green black white old new small big indoor outdoor snow rain").split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", add_prefix_space=True)
    tok.decoder = decoders.Metaspace(replacement="▁", add_prefix_space=True)
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"],
        show_progress=False))
    return _finish_siglip_tokenizer(tok, "<eos>", None, length)


@contextlib.contextmanager
def _tiny_timm_vit(enabled: bool):
    """--small: the same timm VisionTransformer class ('map' pooling, patch 16,
    384 input, width 1152 = the embedding size, as there is no projection)
    with one block."""
    if not enabled:
        yield
        return
    import timm

    real = timm.create_model

    def create(name, *a, **kw):
        kw.update(depth=1)
        return real(name, *a, **kw)

    timm.create_model = create
    try:
        yield
    finally:
        timm.create_model = real


def siglip2(job):
    import open_clip

    job.source = (f"open_clip {SIGLIP2} pretrained='webli' (hf-hub:{SIGLIP2_HUB}), "
                  "SigLIP 2, WebLI")
    length = 64
    if job.random:
        tok_json = _siglip_tokenizer_random(300 if job.small else 2000, length)
        cfg = json.loads(json.dumps(open_clip.get_model_config(SIGLIP2)))
        if job.small:
            from tokenizers import Tokenizer

            cfg["text_cfg"].update(width=64, heads=2, layers=2,
                                   vocab_size=Tokenizer.from_str(tok_json).get_vocab_size())
            job.notes.append("small: timm ViT with 1 block (width 1152, map pool, patch 16, 384 "
                             "input), text tower 2 layers of width 64 projected to 1152, "
                             "small BPE tokenizer (at most 300 ids)")
        else:
            job.notes.append("random weights: full architecture; the tokenizer is a small BPE "
                             "(at most 2000 ids) trained on generated text, not Gemma's")
        cfg["text_cfg"].pop("hf_tokenizer_name", None)
        with _tiny_timm_vit(job.small):
            model = open_clip.CustomTextCLIP(**{k: v for k, v in cfg.items()
                                                if k in ("embed_dim", "vision_cfg", "text_cfg",
                                                         "init_logit_bias")})
    else:
        try:
            model = open_clip.create_model(SIGLIP2, pretrained="webli")
            tok_json = _siglip_tokenizer_pretrained(length)
        except Exception as e:  # noqa: BLE001
            raise network_hint(e) from e
    model.eval()
    _export_image(job, ImageTower(model), "siglip2-so400m-16-384-visual.onnx",
                  Pre(384, 384, "crop", "symmetric"), ["image_embeds"])
    _export_text(job, model, tok_json, "siglip2-so400m-16-384-text.onnx", length)
    job.write_text("siglip2-tokenizer.json", tok_json, "tokenizer")
    return versions("open_clip", "timm", "tokenizers")


RECIPES = {"siglip2-so400m-16-384": siglip2, "clip-vit-l-14": clip_vit_l_14}
