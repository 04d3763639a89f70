# Sourced by benches/models.sh and benches/overlap.sh: the facet binary, the
# two corpora (../shared/photos, and 24 MP photos written by the pipeline
# bench) and `measure`, one `facet run` of the local model pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${FACET_SHARED:-../shared}"
TARGET="${CARGO_TARGET_DIR:-target}"
if [ -z "${FACET:-}" ]; then
  FACET="$TARGET/release/facet"
  [ -x "$FACET" ] || FACET="$TARGET/debug/facet"
fi
[ -x "$FACET" ] || { echo "no facet binary at $FACET (cargo build)"; exit 2; }
[ -d "$SHARED/photos" ] || { echo "needs $SHARED/photos"; exit 2; }
[ -d "$SHARED/models" ] || { echo "needs $SHARED/models"; exit 2; }
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$(tools/onnxruntime)}"
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)"; exit 2; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The 24 MP corpus, written by the pipeline bench (test profile: no release build).
FACET_WRITE_24MP="$TMP/24mp" FACET_24MP_COUNT="${FACET_24MP_COUNT:-16}" \
  cargo test -q --bench pipeline >/dev/null
CORPORA=("$SHARED/photos" "$TMP/24mp")
echo "binary: $FACET; $(nproc) cores; $(date -u +%F)"

# measure PIPELINE CORPUS WORKERS: runs `facet run` into a fresh store under
# `/usr/bin/time -v`; sets RATE (photos/s, as `facet run` reports it) and
# KIB (peak RSS, from the kernel).
measure() {
  local store="$TMP/store" out="$TMP/out"
  /usr/bin/time -v "$FACET" run "$1" "$2" --workers "$3" --store "$store" >"$out" 2>&1 \
    || { cat "$out"; exit 1; }
  rm -rf "$store"
  RATE="$(grep -h ' analysed, ' "$out" | tail -1 | sed -n 's/.*(\([0-9.]*\) photos\/s.*/\1/p')"
  KIB="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out")"
}
