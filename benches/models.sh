#!/usr/bin/env bash
# Photos/s and peak RSS of the local model pipeline (benches/models-local.yaml:
# BRISQUE, MobileNetV2 tags and embedding, faceres, faces with BlazeFace,
# the face mesh, the eye contours and faceres) with 1, 2 and 4 workers:
# the workers share one ONNX Runtime session per model, so the peak RSS of
# 4 workers should stay within 1.25× of 1 worker's.
#
#   benches/models.sh [PHOTOS] [WORKERS…]     (defaults: ../shared/photos, 1 2 4)
#
# Each run is `facet run` into a fresh store under `/usr/bin/time -v` (peak
# RSS from the kernel); photos/s is what `facet run` reports. Uses the
# release binary when there is one, else the dev profile's (FACET=path/to/facet
# to choose); ONNX Runtime from ORT_DYLIB_PATH or `tools/onnxruntime`.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${FACET_SHARED:-../shared}"
PHOTOS="${1:-$SHARED/photos}"
shift || true
WORKERS=("${@:-1 2 4}")
# shellcheck disable=SC2206
WORKERS=(${WORKERS[*]})
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${FACET:-}" ]; then
  FACET="$TARGET/release/facet"
  [ -x "$FACET" ] || FACET="$TARGET/debug/facet"
fi
[ -x "$FACET" ] || { echo "no facet binary at $FACET (cargo build)"; exit 2; }
[ -d "$PHOTOS" ] || { echo "SKIPPED: $PHOTOS is absent"; exit 0; }
[ -d "$SHARED/models" ] || { echo "SKIPPED: $SHARED/models is absent"; exit 0; }
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(tools/onnxruntime)}"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "binary: $FACET; photos: $PHOTOS; $(nproc) cores"
first=""
for w in "${WORKERS[@]}"; do
  /usr/bin/time -v "$FACET" run benches/models-local.yaml "$PHOTOS" --workers "$w" \
    --store "$TMP/store-$w" >"$TMP/out-$w" 2>&1 || { cat "$TMP/out-$w"; exit 1; }
  line="$(grep -h ' analysed, ' "$TMP/out-$w" | tail -1)"
  rate="$(sed -n 's/.*(\([0-9.]*\) photos\/s.*/\1/p' <<<"$line")"
  kib="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/out-$w")"
  first="${first:-$kib}"
  awk -v w="$w" -v r="$rate" -v k="$kib" -v f="$first" 'BEGIN {
    printf "%d worker(s): %6s photos/s, peak RSS %7.1f MiB (%.2fx the first)\n", w, r, k / 1024, k / f }'
done
