#!/usr/bin/env bash
# Runs every `tools/export` recipe with random weights (nothing is
# downloaded) and prints, per recipe: the files' total size, the seconds the
# export took (export + ONNX Runtime check), and the largest PyTorch-vs-ONNX
# difference over its outputs.
#
#   benches/export-models.sh [--full|--small|--both] [RECIPE...]
#
#   --small  (default) the smallest config of each model class: CI time
#   --full   the real architectures (SigLIP 2 SO400M: ~2.7 GB of ONNX, minutes)
#   --both   both, one after the other
#
# The exporter's virtual environment is FACET_EXPORT_VENV (default
# ~/.cache/facet/export-venv); it is created from tools/export/requirements.txt
# when missing (PyPI only; torch and its CUDA wheels are a few GB).
# Outputs go to a temporary folder (kept with KEEP=1); check images are
# ../shared/photos/objects unless FACET_CHECK_IMAGES says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${FACET_EXPORT_VENV:-$HOME/.cache/facet/export-venv}"
IMAGES="${FACET_CHECK_IMAGES:-../shared/photos/objects}"
MODES=(small)
case "${1:-}" in
  --full) MODES=(full); shift ;;
  --small) MODES=(small); shift ;;
  --both) MODES=(small full); shift ;;
esac
RECIPES=("$@")
if [ ${#RECIPES[@]} -eq 0 ]; then
  RECIPES=(marian-opus-mt samp-net hyperiqa-koniq dbcnn-koniq topiq-nr-koniq musiq-koniq
           clip-vit-l-14 siglip2-so400m-16-384)
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch, onnxruntime, pyiqa, open_clip" 2>/dev/null; then
  echo "creating $VENV from tools/export/requirements.txt ..."
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r tools/export/requirements.txt
fi
[ -d "$IMAGES" ] || { echo "no check images at $IMAGES (set FACET_CHECK_IMAGES)"; exit 2; }
OUT="$(mktemp -d -t facet-export-XXXXXX)"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$OUT"' EXIT
fail=0
printf '%-24s %-6s %12s %9s %12s\n' recipe config bytes seconds max_abs_diff
for mode in "${MODES[@]}"; do
  for r in "${RECIPES[@]}"; do
    dir="$OUT/$mode/$r"
    mkdir -p "$dir"
    flags=(--random-weights)
    [ "$mode" = small ] && flags+=(--small)
    if nice "$VENV/bin/python" tools/export/facet_export.py --recipe "$r" --out-dir "$dir" \
         "${flags[@]}" --check-images "$IMAGES" --report "$dir/report.json" >"$dir/log" 2>&1; then
      "$VENV/bin/python" - "$dir/report.json" "$r" "$mode" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
size = sum(f["bytes"] for f in r["files"])
diff = max(r["max_abs_diff"].values())
print(f"{sys.argv[2]:<24} {sys.argv[3]:<6} {size:>12} {r['seconds']:>9.1f} {diff:>12.2e}")
EOF
    else
      printf '%-24s %-6s FAILED: %s\n' "$r" "$mode" "$(grep -v Warning "$dir/log" | tail -1)"
      fail=1
    fi
  done
done
[ "${KEEP:-0}" = 1 ] && echo "outputs kept in $OUT"
exit $fail
