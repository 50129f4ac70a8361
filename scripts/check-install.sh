#!/usr/bin/env bash
# The documented install, `cargo install --path cli --locked`, into a scratch --root: the
# installed wf must run and be stripped of debug information. The release build reuses the
# target folder (CARGO_TARGET_DIR, default target/), so a second run only relinks.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cargo install --path cli --locked --root "$root" --quiet
version=$("$root/bin/wf" --version)
[[ "$version" == "wf $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" ]] \
    || { echo "check-install: unexpected version: $version" >&2; exit 1; }
if command -v readelf >/dev/null && readelf -S "$root/bin/wf" | grep -q '\.debug_'; then
    echo "check-install: the installed wf carries debug sections" >&2
    exit 1
fi
echo "check-install: ok ($version, $(du -k "$root/bin/wf" | cut -f1) KiB)"
