#!/bin/sh
# Gather the English training corpus for the embedded default model
# (models/default) from Debian packages. Run as root on Debian 12 (bookworm):
#
#   sh tools/gather_corpus.sh [OUT_DIR]          (default OUT_DIR: .carry/corpus)
#
# Installs the packages below, extracts their prose with
# tools/corpus/extract.py (standard-library Python 3), and writes
#   OUT_DIR/train.txt, OUT_DIR/heldout.txt   NUL-separated UTF-8 documents
#   OUT_DIR/heldout_sample.txt               the fixed <= 20 KB held-out slice
#   OUT_DIR/stats.json
#   OUT_DIR-xz/corpus.tar.xz                 all of the above, for the GPU run
#   tools/corpus/SOURCES.md                  packages, versions, licenses, bytes
# The corpus itself is never committed (.carry/ is git-ignored).
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-.carry/corpus}

PACKAGES="fortunes fortunes-min fortune-mod fortunes-bofh-excuses
  dict-devil jargon-text bible-kjv-text bible-kjv dict-foldoc
  debian-handbook debian-reference-en maint-guide developers-reference
  debian-policy doc-debian gnu-standards bash-doc perl-doc python3.11-doc
  git-doc"

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES

mkdir -p "$OUT"
python3 tools/corpus/extract.py --out "$OUT" --sources-md tools/corpus/SOURCES.md

# one compressed archive for the GPU machine (the run tool carries <= 64 MiB)
mkdir -p "$OUT-xz"
tar -C "$OUT" -cf - train.txt heldout.txt heldout_sample.txt stats.json \
  | xz -9 -T0 > "$OUT-xz/corpus.tar.xz.tmp"
mv "$OUT-xz/corpus.tar.xz.tmp" "$OUT-xz/corpus.tar.xz"
ls -l "$OUT" "$OUT-xz"
sha256sum "$OUT/train.txt" "$OUT/heldout.txt" "$OUT/heldout_sample.txt"
