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
# Editors: every example manifest checked by taplo through its #:schema line.
scripts/check-schemas.sh
# The pre-commit hook (.pre-commit-hooks.yaml), through pre-commit on a sample repository.
scripts/check-pre-commit.sh
# The documented install (`cargo install --path cli --locked`) into a scratch root.
scripts/check-install.sh
