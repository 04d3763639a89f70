#!/usr/bin/env python3
"""Exports one model that a Facet pipeline names to ONNX (the Python side of
`facet models export`).

    python tools/export/facet_export.py --recipe NAME --out-dir DIR \
        [--random-weights] [--small] [--check-images DIR] [--pair en-fr] \
        --report REPORT.json

Recipes (the files each writes into DIR):

  siglip2-so400m-16-384  siglip2-so400m-16-384-visual.onnx, -text.onnx, siglip2-tokenizer.json
  clip-vit-l-14          clip-vit-l-14-aesthetic.onnx, clip-vit-l-14-text.onnx, clip-vit-l-14-tokenizer.json
  topiq-nr-koniq         topiq-nr-koniq.onnx
  hyperiqa-koniq         hyperiqa-koniq.onnx
  dbcnn-koniq            dbcnn-koniq.onnx
  musiq-koniq            musiq-koniq.onnx
  samp-net               samp_net.onnx
  marian-opus-mt         opus-mt-<pair>-encoder.onnx, -decoder.onnx, -tokenizer.json, -config.json

Without --random-weights the published weights are loaded (this needs the
model hubs); with it, the same architecture is built with random weights and
nothing is downloaded. --small builds the smallest configuration of the same
model class (for a CI-time run); file names and input/output conventions do
not change. Every export is checked against PyTorch with ONNX Runtime on a
few images (or texts); the report records the max abs difference per output.
Existing files in DIR are never overwritten: the recipe writes temporary
files and moves them to their names only when all of them are verified.
Exit status: 0 done, 2 a clear failure (message on stderr), 1 a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ExportError, Job, OPSET, offline  # noqa: E402


def recipes():
    from recipes import clip, iqa, marian, samp_net

    table = {}
    for mod in (clip, iqa, marian, samp_net):
        table.update(mod.RECIPES)
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--random-weights", action="store_true")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--check-images", default=None)
    ap.add_argument("--pair", default="en-fr",
                    help="marian-opus-mt: source-target language pair (default en-fr, "
                         "the reference's translation.target_language default)")
    ap.add_argument("--report", required=True, type=Path)
    ap.add_argument("--list", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    table = recipes()
    if a.recipe not in table:
        print(f"facet_export: unknown recipe `{a.recipe}` (known: {', '.join(sorted(table))})",
              file=sys.stderr)
        return 2
    a.out_dir.mkdir(parents=True, exist_ok=True)
    job = Job(recipe=a.recipe, out_dir=a.out_dir, random=a.random_weights, small=a.small,
              check_images=a.check_images, options={"pair": a.pair}, opset=OPSET)
    t0 = time.monotonic()
    try:
        with offline(a.random_weights):
            vers = table[a.recipe](job)
        files = job.commit()
    except ExportError as e:
        job.cleanup()
        print(f"facet_export: {a.recipe}: {e}", file=sys.stderr)
        return 2
    except BaseException:
        job.cleanup()
        raise
    report = {
        "recipe": a.recipe,
        "weights": "random" if a.random_weights else "pretrained",
        "small": a.small,
        "source": job.source,
        "opset": job.opset,
        "seconds": round(time.monotonic() - t0, 2),
        "files": files,
        "max_abs_diff": job.max_abs_diff,
        "versions": vers,
    }
    if job.notes:
        report["notes"] = job.notes
    report.update(job.extra)
    a.report.parent.mkdir(parents=True, exist_ok=True)
    a.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
