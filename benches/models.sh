#!/usr/bin/env bash
# Photos/s and peak RSS of the local model pipeline (benches/models-local.yaml:
# BRISQUE, MobileNetV2 tags and embedding, faces with BlazeFace, the face
# mesh, the eye contours and faceres) with 1, 2 and 4 workers, on two
# corpora — the shared photos and 16 photos of 24 MP (the criterion bench's
# `24mp` photos: the shared JPEGs upscaled with grain) — each twice, in one
# run: "now" (one ONNX Runtime session per model for every worker, model
# stages on threads of their own) and "before" (the engine as it was:
# FACET_SESSION_PER_WORKER=1, each worker opens its own sessions and admits
# a whole `batch:`, and FACET_STAGES_INLINE=1, every stage on its worker's
# thread). The goal: the peak RSS of 4 workers within 1.25× of 1 worker's,
# and photos/s not lower than before.
#
#   benches/models.sh [WORKERS…]     (default: 1 2 4)
#
# Each run is `facet run` into a fresh store under `/usr/bin/time -v` (peak
# RSS from the kernel); photos/s is what `facet run` reports. Uses the
# release binary when there is one, else the dev profile's (FACET=path/to/facet
# to choose); ONNX Runtime from ORT_DYLIB_PATH or `tools/onnxruntime`.
WORKERS=("${@:-1 2 4}")
# shellcheck disable=SC2206
WORKERS=(${WORKERS[*]})
# shellcheck source=benches/models-common.sh
source "$(dirname "$0")/models-common.sh"

for corpus in "${CORPORA[@]}"; do
  echo "corpus: $corpus ($(find "$corpus" -type f | wc -l) files)"
  for mode in now before; do
    first=""
    rate1=""
    for w in "${WORKERS[@]}"; do
      if [ "$mode" = before ]; then
        export FACET_SESSION_PER_WORKER=1 FACET_STAGES_INLINE=1
      else
        unset FACET_SESSION_PER_WORKER FACET_STAGES_INLINE
      fi
      measure benches/models-local.yaml "$corpus" "$w"
      rate="$RATE"
      kib="$KIB"
      first="${first:-$kib}"
      rate1="${rate1:-$rate}"
      awk -v m="$mode" -v w="$w" -v r="$rate" -v k="$kib" -v f="$first" -v r1="$rate1" 'BEGIN {
        printf "  %-10s %d worker(s): %6s photos/s (%.2fx 1 worker), peak RSS %7.1f MiB (%.2fx 1 worker)\n",
          m, w, r, r / r1, k / 1024, k / f }'
    done
  done
  unset FACET_SESSION_PER_WORKER FACET_STAGES_INLINE
done
