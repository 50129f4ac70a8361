#!/usr/bin/env bash
# Makes docs/images/timeline.png: runs docs/images/timeline-demo.toml in a scratch folder with
# `wf run --html`, then has headless Chromium take a screenshot of the page.
# Needs a built wf (WF=path, default: target/release/wf, else target/debug/wf) and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
wf=${WF:-}
if [ -z "$wf" ]; then
    target=${CARGO_TARGET_DIR:-$repo/target}
    for candidate in "$target/release/wf" "$target/debug/wf"; do
        if [ -x "$candidate" ]; then wf=$candidate; break; fi
    done
fi
[ -n "$wf" ] || { echo "no wf binary: run cargo build first (or set WF)" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp docs/images/timeline-demo.toml "$scratch/wf.toml"
(cd "$scratch" && "$wf" run --output quiet --html timeline.html) || true
chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --window-size=1200,760 --screenshot="$repo/docs/images/timeline.png" \
    "file://$scratch/timeline.html#task=check" 2>/dev/null
echo "wrote docs/images/timeline.png" >&2
