#!/usr/bin/env bash
# The manifest schema in editors: every example in manifests/ checked by taplo (the TOML
# toolkit behind Even Better TOML), through its own `#:schema` line, exactly as an editor reads
# it; a manifest with a misspelt key must be rejected; `wf init`'s starter must pass. Installs
# taplo from npm (@taplo/cli, a prebuilt) when missing. Without taplo and npm this skips loudly,
# except in CI (CI=true), where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
TAPLO_NPM_VERSION=0.7.0

# shellcheck source=scripts/lib/skip-or-fail.sh
source scripts/lib/skip-or-fail.sh

if ! command -v taplo >/dev/null; then
    command -v npm >/dev/null || skip_or_fail "taplo is not installed and npm is missing"
    echo "check-schemas: installing taplo (npm install -g @taplo/cli@$TAPLO_NPM_VERSION)" >&2
    npm install -g --no-audit --no-fund "@taplo/cli@$TAPLO_NPM_VERSION" >&2 \
        || skip_or_fail "npm could not install @taplo/cli"
fi

schema="$PWD/schemas/wf-manifest.schema.json"
grep -q '"\$id": "https://wf.dev/schemas/wf-manifest.schema.json"' "$schema" \
    || { echo "check-schemas: $schema lost its stable \$id" >&2; exit 1; }
grep -q '"\$schema": "http://json-schema.org/draft-07/schema#"' "$schema" \
    || { echo "check-schemas: $schema is not draft-07 (taplo reads draft-07)" >&2; exit 1; }

# Every example, through its own #:schema line.
for manifest in manifests/*.toml; do
    head -n1 "$manifest" | grep -q '^#:schema ' \
        || { echo "check-schemas: $manifest has no #:schema line" >&2; exit 1; }
done
taplo check manifests/*.toml

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The check can fail: a misspelt key is an error.
printf '#:schema %s\n[tasks.a]\nrun = "x"\ntimout = "5m"\n' "$schema" > "$scratch/bad.toml"
if taplo check "$scratch/bad.toml" >/dev/null 2>&1; then
    echo "check-schemas: taplo accepted a manifest with an unknown key" >&2
    exit 1
fi

# `wf init`'s starter (its #:schema line is the schema's $id; checked against the local file).
wf="${WF:-${CARGO_TARGET_DIR:-target}/debug/wf}"
# The check below runs in a scratch folder: the path must not be relative to this one.
[[ "$wf" = /* ]] || wf="$PWD/$wf"
if [[ -x "$wf" ]]; then
    (cd "$scratch" && "$wf" init >/dev/null)
    taplo check --schema "file://$schema" "$scratch/wf.toml"
else
    echo "check-schemas: no wf binary at $wf: the starter manifest was not checked" >&2
fi
echo "check-schemas: ok (taplo $(taplo --version | awk '{print $2}'))"
