#!/bin/sh
# Regenerates the pictures of docs/teaching.md. CI runs it into a temporary directory and
# compares the DOT it writes with the committed docs/img/*.dot, so the pictures never go stale.
#
# usage: docs/make_pictures.sh [OUTDIR [BUILDDIR]]
#   OUTDIR    where the pictures go (default: docs/img)
#   BUILDDIR  the meson build directory (default: build), holding tests/teaching (built from
#             docs/teaching.c) and tools/retrograd
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/img}
build=${2:-$here/../build}
mkdir -p "$out"

for prog in "$build/tests/teaching" "$build/tools/retrograd"; do
    if [ ! -x "$prog" ]; then
        echo "make_pictures: $prog is missing: build first (meson setup build && ninja -C build)" >&2
        exit 1
    fi
done

# The neuron and the two-layer MLP, built through the graph API (docs/teaching.c). It writes
# every picture as DOT, and as PNG when retrograd renders in-process (built with libgvc).
rm -f "$out"/neuron*.png "$out"/mlp*.png
"$build/tests/teaching" "$out"

# The neuron from the command line.
"$build/tools/retrograd" expr 'n = x1*w1 + x2*w2 + b; o = tanh(n); o' \
    --at x1=2 --at x2=0 --at w1=-3 --at w2=1 --at b=6.8813735870195432 \
    --dot "$out/neuron_cli.dot" >/dev/null

# Without in-process rendering, Graphviz's dot program draws the PNGs from the DOT files.
for f in "$out"/neuron*.dot "$out"/mlp*.dot; do
    png=${f%.dot}.png
    [ "$f" = "$out/neuron_cli.dot" ] && continue
    [ -e "$png" ] && continue
    if ! command -v dot >/dev/null 2>&1; then
        echo "make_pictures: cannot render $f: retrograd was built without libgvc and" \
             "Graphviz's dot program is not installed" >&2
        exit 1
    fi
    dot -Tpng "$f" -o "$png"
done
