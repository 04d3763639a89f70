#!/usr/bin/env bash
# CPU and model at once: photos/s and peak RSS of the local model pipeline
# (benches/models-local.yaml) on the shared photos and on 16 photos of 24 MP,
# each run twice in one run of this script: "inline" (FACET_STAGES_INLINE=1:
# every stage on its worker's thread, one batch in flight per worker — the
# engine before model stages had threads of their own) and "own threads"
# (today: each model stage is an operator whose batches run on a thread of
# its own while the worker decodes the next batch).
#
# On a machine without a GPU the overlap shows when the models are pinned to
# fewer threads than there are cores — here `threads: 1` on every ONNX
# stage (the "pinned" pipeline, written from models-local.yaml): inline, a
# worker decodes, then waits on a one-thread inference, one core idle;
# with the stage on its own thread, the worker decodes the next batch
# meanwhile. The models with their default threads (the cores divided among
# the workers) are measured too. On a GPU machine the same holds with the
# GPU in place of the pinned thread.
#
#   benches/overlap.sh [WORKERS…]     (default: 1 2)
#
# Uses the release binary when there is one, else the dev profile's
# (FACET=path/to/facet to choose).
WORKERS=("${@:-1 2}")
# shellcheck disable=SC2206
WORKERS=(${WORKERS[*]})
# shellcheck source=benches/models-common.sh
source "$(dirname "$0")/models-common.sh"

# The pinned pipeline: `threads: 1` in every multi-line `with:` (the ONNX
# and faces stages; BRISQUE runs on the calling thread anyway).
sed 's/^    with:$/    with:\n      threads: 1/' benches/models-local.yaml >benches/.models-pinned.yaml
trap 'rm -rf "$TMP" benches/.models-pinned.yaml' EXIT

for corpus in "${CORPORA[@]}"; do
  echo "corpus: $corpus ($(find "$corpus" -type f | wc -l) files)"
  for pipeline in benches/.models-pinned.yaml benches/models-local.yaml; do
    case "$pipeline" in *pinned*) echo "  models pinned to 1 thread" ;; *) echo "  models with their default threads" ;; esac
    for w in "${WORKERS[@]}"; do
      export FACET_STAGES_INLINE=1
      measure "$pipeline" "$corpus" "$w"
      inline_rate="$RATE" inline_kib="$KIB"
      unset FACET_STAGES_INLINE
      measure "$pipeline" "$corpus" "$w"
      awk -v w="$w" -v a="$inline_rate" -v b="$RATE" -v ka="$inline_kib" -v kb="$KIB" 'BEGIN {
        printf "    %d worker(s): inline %6s photos/s, %7.1f MiB; own threads %6s photos/s, %7.1f MiB: %.2fx the photos/s, %.2fx the RSS\n",
          w, a, ka / 1024, b, kb / 1024, b / a, kb / ka }'
    done
  done
done
