"""MarianMT translators (Helsinki-NLP opus-mt-SRC-TGT) for caption translation.

The reference translates captions with Helsinki-NLP MarianMT models, English
to `translation.target_language` (default `fr`; fr, de, es, it), so the
default pair is `en-fr` (`--pair en-de` etc.). NAME below is `opus-mt-<pair>`.

Files:

* `NAME-encoder.onnx`
    inputs  `input_ids` int64 [batch, src_len], `attention_mask` int64 [batch, src_len]
    output  `last_hidden_state` float32 [batch, src_len, d_model]
* `NAME-decoder.onnx` (one graph for every step, with a self-attention cache)
    inputs  `input_ids` int64 [batch, tgt_len] (the new tokens: the
            decoder_start_token_id first, then one token per step),
            `encoder_hidden_states` float32 [batch, src_len, d_model],
            `encoder_attention_mask` int64 [batch, src_len],
            `past_key_values.{i}.key`, `past_key_values.{i}.value` float32
            [batch, num_heads, past_len, head_dim] for i in 0..num_layers
            (past_len 0 on the first step: empty tensors)
    outputs `logits` float32 [batch, tgt_len, vocab_size] (final_logits_bias
            included), `present.{i}.key`, `present.{i}.value` float32
            [batch, num_heads, past_len + tgt_len, head_dim]
  The cross-attention keys/values are recomputed from
  `encoder_hidden_states` at every step (so the first step needs no special
  graph); positions continue from past_len.
* `NAME-tokenizer.json`: a Hugging Face `tokenizers` Unigram model whose ids
  are Marian's vocab ids (vocab.json); pieces and scores from the source
  SentencePiece model (pieces of the shared vocab that the source model lacks
  get a score below every source piece); SentencePiece's nmt_nfkc
  normalisation; Metaspace pre-tokenizer; `</s>` appended; padding id = pad.
* `NAME-expected.json`: golden outputs of Hugging Face `generate()` for
  EXPECTED_TEXTS (one batch, the model's own generation config: bad words,
  forced eos at max_length): `greedy` (num_beams=1) and `beam` (num_beams=4)
  token ids per text (decoder start token first, trailing padding removed)
  and their decoded text; the Rust `translate` stage is tested against them.
* `NAME-config.json`: decoder_start_token_id, eos_token_id, pad_token_id,
  bad_words_ids (the pad id is never generated), max_length, num_beams,
  num_layers, num_heads, head_dim, d_model, vocab_size and the tensor names.

Greedy decoding: encode; ids = [decoder_start]; loop: run the decoder on the
last new token(s) with the past, take argmax of logits[:, -1] (pad masked
out), stop at eos_token_id or max_length; detokenize with the tokenizer's
decoder (skip special tokens).
"""

from __future__ import annotations

import io
import json
import random as pyrandom
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from common import ExportError, network_hint, versions

CHECK_TEXTS = [
    "a dog running on the beach at sunset",
    "two people standing in front of an old church",
    "close-up of a red flower with water drops",
]

# Texts of the golden-output file (NAME-expected.json).
EXPECTED_TEXTS = CHECK_TEXTS + [
    "a small house",
    "portrait of a woman with a red car in the city at night",
]


# ---------------------------------------------------------------------------
# Wrappers
# ---------------------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.get_encoder()

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                            return_dict=False)[0]


class DecoderWithPast(nn.Module):
    """One decoder step (or several tokens) with a self-attention cache."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.get_decoder()
        self.lm_head = model.lm_head
        self.register_buffer("final_logits_bias", model.final_logits_bias.clone())
        self.layers = len(self.decoder.layers)

    def forward(self, input_ids, encoder_hidden_states, encoder_attention_mask, *past):
        bsz = input_ids.shape[0]
        cache = []
        for i, layer in enumerate(self.decoder.layers):
            attn = layer.encoder_attn
            ck = attn._shape(attn.k_proj(encoder_hidden_states), -1, bsz)
            cv = attn._shape(attn.v_proj(encoder_hidden_states), -1, bsz)
            cache.append((past[2 * i], past[2 * i + 1], ck, cv))
        out = self.decoder(input_ids=input_ids, encoder_hidden_states=encoder_hidden_states,
                           encoder_attention_mask=encoder_attention_mask,
                           past_key_values=tuple(cache), use_cache=True, return_dict=True)
        logits = self.lm_head(out.last_hidden_state) + self.final_logits_bias
        present = []
        for k, v, _, _ in out.past_key_values:
            present += [k, v]
        return (logits, *present)


# ---------------------------------------------------------------------------
# Tokenizer: Marian's SentencePiece + vocab.json -> tokenizers' Unigram JSON
# ---------------------------------------------------------------------------

def tokenizer_json(spm_source, vocab: dict, eos: str, unk: str, pad: str) -> str:
    """A `tokenizers` JSON reproducing MarianTokenizer's source-side encoding."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    scores = {spm_source.id_to_piece(i): spm_source.get_score(i)
              for i in range(spm_source.get_piece_size())}
    floor = min(scores.values()) - 10.0
    specials = {eos, unk, pad}
    pieces = []
    for tok, idx in sorted(vocab.items(), key=lambda kv: kv[1]):
        if len(pieces) != idx:
            raise ExportError(f"vocab.json ids are not dense at {tok}={idx}")
        score = 0.0 if tok in specials else scores.get(tok, floor)
        pieces.append((tok, float(score)))
    tok = Tokenizer(Unigram(pieces, unk_id=vocab[unk]))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Nmt(), normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", add_prefix_space=True)
    tok.decoder = decoders.Metaspace(replacement="▁", add_prefix_space=True)
    tok.add_special_tokens([eos, unk, pad])
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A $B {eos}", special_tokens=[(eos, vocab[eos])])
    tok.enable_padding(pad_id=vocab[pad], pad_token=pad)
    return tok.to_str(pretty=True)


def _tiny_marian_tokenizer(workdir: Path, vocab_size: int):
    """Trains a tiny SentencePiece model on generated English-like text and
    builds a MarianTokenizer from it (vocab.json: </s>=0, <unk>=1, pieces, <pad>)."""
    import sentencepiece as spm
    from transformers import MarianTokenizer

    rng = pyrandom.Random(0)
    words = ("a the dog cat photo of red blue green tree house sky sea beach people "
             "man woman child city street car old new small big light dark night day "
             "mountain river flower water sunset standing running sitting in on at with "
             "two three portrait landscape close up view garden church bridge").split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(2000)]
    lines += CHECK_TEXTS
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=model,
                                   vocab_size=vocab_size, model_type="unigram",
                                   character_coverage=1.0, normalization_rule_name="nmt_nfkc",
                                   bos_id=-1, eos_id=2, unk_id=1, pad_id=-1, hard_vocab_limit=False,
                                   minloglevel=2)
    (workdir / "source.spm").write_bytes(model.getvalue())
    (workdir / "target.spm").write_bytes(model.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = {"</s>": 0, "<unk>": 1}
    for i in range(sp.get_piece_size()):
        p = sp.id_to_piece(i)
        if p not in vocab and p not in ("<s>",):
            vocab[p] = len(vocab)
    vocab["<pad>"] = len(vocab)
    (workdir / "vocab.json").write_text(json.dumps(vocab))
    return MarianTokenizer(str(workdir / "source.spm"), str(workdir / "target.spm"),
                           str(workdir / "vocab.json"))


# ---------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------

def marian(job):
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    pair = job.options.get("pair") or "en-fr"
    if not all(p.isalpha() for p in pair.split("-")) or pair.count("-") != 1:
        raise ExportError(f"--pair must look like en-fr, not `{pair}`")
    model_id = f"Helsinki-NLP/opus-mt-{pair}"
    name = f"opus-mt-{pair}"
    job.source = f"transformers MarianMTModel {model_id} (OPUS-MT, Helsinki-NLP)"
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if job.random:
            tokenizer = _tiny_marian_tokenizer(Path(tmp), 96 if job.small else 400)
            vocab = tokenizer.get_vocab()
            dims = (dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                         decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32)
                    if job.small else
                    dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                         decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048))
            pad = vocab["<pad>"]
            config = MarianConfig(vocab_size=len(vocab), decoder_vocab_size=len(vocab),
                                  pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
                                  forced_eos_token_id=0, bad_words_ids=[[pad]], max_length=64,
                                  num_beams=4, max_position_embeddings=512,
                                  scale_embedding=True, share_encoder_decoder_embeddings=True,
                                  activation_function="swish", static_position_embeddings=True,
                                  **dims)
            model = MarianMTModel(config)
            job.notes.append(
                f"random weights: tiny SentencePiece unigram ({len(vocab)} ids) trained on generated "
                "text; " + ("d_model 16, 1+1 layers, 2 heads" if job.small else
                            "opus-mt layer sizes (d_model 512, 6+6 layers, 8 heads)"))
        else:
            try:
                tokenizer = MarianTokenizer.from_pretrained(model_id)
                model = MarianMTModel.from_pretrained(model_id)
            except Exception as e:  # noqa: BLE001
                raise network_hint(e) from e
            vocab = tokenizer.get_vocab()
        model.eval()
        cfg = model.config

        tok_json = tokenizer_json(tokenizer.spm_source, tokenizer.encoder, tokenizer.eos_token,
                                  tokenizer.unk_token, tokenizer.pad_token)
    mismatches = _tokenizer_mismatches(tok_json, tokenizer)

    layers = cfg.decoder_layers
    heads = cfg.decoder_attention_heads
    head_dim = cfg.d_model // heads
    past_names = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]

    # -- encoder ----------------------------------------------------------
    enc = Encoder(model).eval()
    batch = tokenizer(CHECK_TEXTS, return_tensors="pt", padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    enc_path = job.export(enc, (ids[:2], mask[:2]), f"{name}-encoder.onnx", "encoder",
                          ["input_ids", "attention_mask"], ["last_hidden_state"],
                          {"input_ids": {0: "batch", 1: "src_len"},
                           "attention_mask": {0: "batch", 1: "src_len"},
                           "last_hidden_state": {0: "batch", 1: "src_len"}})
    job.verify(enc_path, enc, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()},
               label="encoder.")

    # -- decoder ----------------------------------------------------------
    dec = DecoderWithPast(model).eval()
    with torch.no_grad():
        hidden = enc(ids, mask)

    def past(b, n):
        return [torch.zeros(b, heads, n, head_dim) + 0.01 * torch.randn(b, heads, n, head_dim)
                for _ in past_names]

    dummy = (torch.full((2, 2), cfg.decoder_start_token_id, dtype=torch.long), hidden[:2],
             mask[:2], *past(2, 3))
    dyn = {"input_ids": {0: "batch", 1: "tgt_len"},
           "encoder_hidden_states": {0: "batch", 1: "src_len"},
           "encoder_attention_mask": {0: "batch", 1: "src_len"},
           "logits": {0: "batch", 1: "tgt_len"}}
    for n in past_names:
        dyn[n] = {0: "batch", 2: "past_len"}
    for n in present_names:
        dyn[n] = {0: "batch", 2: "total_len"}
    dec_path = job.export(dec, dummy, f"{name}-decoder.onnx", "decoder",
                          ["input_ids", "encoder_hidden_states", "encoder_attention_mask",
                           *past_names], ["logits", *present_names], dyn)
    b = ids.shape[0]
    start = torch.full((b, 1), cfg.decoder_start_token_id, dtype=torch.long)
    base = {"input_ids": start.numpy(), "encoder_hidden_states": hidden.numpy(),
            "encoder_attention_mask": mask.numpy()}
    # first step: empty past
    job.verify(dec_path, dec, {**base, **{n: t.numpy() for n, t in zip(past_names, past(b, 0))}},
               label="decoder.step0.")
    # a later step with a cache of 4
    job.verify(dec_path, dec, {**base, **{n: t.numpy() for n, t in zip(past_names, past(b, 4))}},
               label="decoder.past4.")
    greedy = _greedy_check(dec_path, enc_path, model, ids, mask, cfg)
    for k in list(job.max_abs_diff):
        if k.startswith(("decoder.", "encoder.")) and "present" in k:
            job.max_abs_diff.pop(k)  # the cache equals PyTorch's when logits do; keep the report short

    conf = {
        "model": model_id,
        "decoder_start_token_id": cfg.decoder_start_token_id,
        "eos_token_id": cfg.eos_token_id,
        "pad_token_id": cfg.pad_token_id,
        "bad_words_ids": cfg.bad_words_ids or [[cfg.pad_token_id]],
        "max_length": cfg.max_length,
        "num_beams": cfg.num_beams,
        "num_layers": layers,
        "num_heads": heads,
        "head_dim": head_dim,
        "d_model": cfg.d_model,
        "vocab_size": cfg.vocab_size,
        "encoder_inputs": ["input_ids", "attention_mask"],
        "encoder_outputs": ["last_hidden_state"],
        "decoder_inputs": ["input_ids", "encoder_hidden_states", "encoder_attention_mask",
                           "past_key_values.{i}.key", "past_key_values.{i}.value"],
        "decoder_outputs": ["logits", "present.{i}.key", "present.{i}.value"],
    }
    job.write_text(f"{name}-tokenizer.json", tok_json, "tokenizer")
    job.write_text(f"{name}-config.json", json.dumps(conf, indent=2) + "\n", "config")
    job.write_text(f"{name}-expected.json",
                   json.dumps(_expected(model, tokenizer, cfg), indent=1) + "\n", "expected")
    job.extra["marian"] = {**conf, "tokenizer_mismatches": mismatches,
                           "greedy_check": greedy}
    return versions("transformers", "tokenizers", "sentencepiece")


def _expected(model, tokenizer, cfg) -> dict:
    """HF generate() on EXPECTED_TEXTS, greedy and 4 beams: the golden outputs."""
    batch = tokenizer(EXPECTED_TEXTS, return_tensors="pt", padding=True)
    out = {"texts": EXPECTED_TEXTS, "max_length": cfg.max_length,
           "input_ids": [tokenizer(t)["input_ids"] for t in EXPECTED_TEXTS]}
    for key, beams in (("greedy", 1), ("beam", 4)):
        with torch.no_grad():
            gen = model.generate(**batch, num_beams=beams, do_sample=False,
                                 max_length=cfg.max_length, output_scores=True,
                                 return_dict_in_generate=True)
        seqs = gen.sequences.tolist()
        if beams == 1:
            # sum of the chosen tokens' log-probabilities (before forced eos)
            steps = torch.stack([torch.log_softmax(s.float(), -1) for s in gen.scores], 1)
            chosen = gen.sequences[:, 1:1 + steps.shape[1]]
            lp = steps.gather(2, chosen[:, :, None])[:, :, 0]
            lp = torch.where(torch.isfinite(lp), lp, torch.zeros_like(lp))
            scores = lp.sum(1).tolist()
        else:
            # the length-normalised score of the best hypothesis
            scores = gen.sequences_scores.tolist()
        ids = []
        for s in seqs:
            # the decoder start (= pad for Marian) is kept; trailing padding is not
            n = len(s)
            while n > 1 and s[n - 1] == cfg.pad_token_id:
                n -= 1
            ids.append(s[:n])
        out[key] = {"num_beams": beams, "ids": ids, "scores": scores,
                    "text": tokenizer.batch_decode(ids, skip_special_tokens=True)}
    return out


def _tokenizer_mismatches(tok_json: str, tokenizer) -> list:
    """Texts whose ids differ between the tokenizer.json and MarianTokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tok_json)
    bad = []
    for t in CHECK_TEXTS + ["Hello, World!  Ünïcode ½ test", "x"]:
        want = tokenizer(t)["input_ids"]
        got = tok.encode(t).ids
        if want != got:
            bad.append({"text": t, "marian": want, "tokenizer_json": got})
    return bad


def _greedy_check(dec_path, enc_path, model, ids, mask, cfg, steps: int = 8) -> dict:
    """Greedy decoding with ONNX Runtime (cache fed back) vs HF generate()."""
    import onnxruntime as ort

    enc = ort.InferenceSession(str(enc_path), providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(dec_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in dec.get_outputs()]
    hidden = enc.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    b = ids.shape[0]
    heads = cfg.decoder_attention_heads
    hd = cfg.d_model // heads
    past = {i.name: np.zeros((b, heads, 0, hd), np.float32)
            for i in dec.get_inputs() if i.name.startswith("past_key_values.")}
    tokens = np.full((b, 1), cfg.decoder_start_token_id, np.int64)
    out = [tokens]
    for _ in range(steps):
        res = dec.run(names, {"input_ids": tokens, "encoder_hidden_states": hidden,
                              "encoder_attention_mask": mask.numpy(), **past})
        logits = res[0][:, -1].copy()
        logits[:, cfg.pad_token_id] = -np.inf
        logits[:, cfg.eos_token_id] = -np.inf  # as min_new_tokens does below
        tokens = logits.argmax(-1)[:, None].astype(np.int64)
        out.append(tokens)
        past = {n.replace("present.", "past_key_values."): v
                for n, v in zip(names[1:], res[1:])}
    onnx_ids = np.concatenate(out, 1)
    with torch.no_grad():
        hf = model.generate(input_ids=ids, attention_mask=mask, num_beams=1, do_sample=False,
                            max_new_tokens=steps, min_new_tokens=steps,
                            bad_words_ids=[[cfg.pad_token_id]], forced_eos_token_id=None)
    hf = hf.numpy()
    n = min(hf.shape[1], onnx_ids.shape[1])
    return {"steps": steps, "same_tokens_as_generate": bool((hf[:, :n] == onnx_ids[:, :n]).all())}


RECIPES = {"marian-opus-mt": marian}
