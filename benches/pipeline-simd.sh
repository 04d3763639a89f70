#!/usr/bin/env bash
# The pipeline benchmark (benches/pipeline.rs) with and without libjpeg-turbo's
# SIMD, back to back: one build cannot hold both (the C library is linked
# statically, its SIMD chosen at build time), so the benchmark is built twice
# (dev profile, pixel crates optimised, as the README's figures) and run each
# way; each prints whether SIMD was on.
#
#   benches/pipeline-simd.sh            (needs nasm for the SIMD build on x86)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nasm >/dev/null || echo "warning: no nasm: the 'simd' build falls back to the C decoders" >&2
for mode in simd plain; do
  flags=()
  [ "$mode" = plain ] && flags=(--no-default-features)
  echo "== $mode =="
  cargo bench --profile dev --bench pipeline "${flags[@]}" -- --noplot 2>&1 \
    | grep -E "SIMD|^24mp/|^heic/|time:|thrpt:"
done
