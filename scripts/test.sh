#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit, property, snapshot and end-to-end
# test of the workspace. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tools some end-to-end tests drive (xmllint, Chromium, script), installed when missing.
scripts/ci-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
