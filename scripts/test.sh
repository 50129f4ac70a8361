#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every unit, property, snapshot and end-to-end
# test of the workspace, including the Slurm executor's tests on a one-node test cluster that
# this script brings up (and takes down again) when none is running. CI runs exactly this
# (see .ci/run). As root on a fresh Debian machine it installs what the tests need; elsewhere
# the tests that need a missing tool say so loudly and are skipped (CI=true makes them fail).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tools some end-to-end tests drive (xmllint, Chromium, script), installed when missing.
scripts/ci-deps.sh
# A Slurm cluster for the Slurm tests: one already answering is used as it is.
if ! sinfo -h >/dev/null 2>&1; then
    if scripts/slurm-up.sh; then
        trap 'scripts/slurm-down.sh || true' EXIT
    elif [ "${CI:-}" = true ]; then
        echo "test.sh: the Slurm test cluster did not come up" >&2
        exit 1
    else
        echo "test.sh: *** no Slurm cluster: the Slurm tests will be SKIPPED ***" >&2
    fi
fi
if sinfo -h >/dev/null 2>&1; then
    # A cluster answers: its tests must run, not skip.
    export WF_REQUIRE_SLURM=1
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Kept for the closing count below (target/ is not tracked).
results=target/test-results.txt
mkdir -p target
cargo test --workspace --locked 2>&1 | tee "$results"
# Editors: every example manifest checked by taplo through its #:schema line.
scripts/check-schemas.sh
# The pre-commit hook (.pre-commit-hooks.yaml), through pre-commit on a sample repository.
scripts/check-pre-commit.sh
# The documented install (`cargo install --path cli --locked`) into a scratch root.
scripts/check-install.sh
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$results"
