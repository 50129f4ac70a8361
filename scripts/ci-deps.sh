#!/usr/bin/env bash
# What the end-to-end tests need besides the Rust toolchain: xmllint (libxml2-utils) to check
# the JUnit XML against tests/fixtures/junit.xsd, Chromium to load the HTML timeline, and
# script (bsdutils) for the pseudo-terminal test. Installs whatever is missing with apt-get;
# does nothing when everything is there. Run it as root (CI is).
set -euo pipefail
missing=()
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "ci-deps: missing ${missing[*]} and not root: the tests that need them are skipped" >&2
    # In CI the tests must run: fail here, where the reason is plain.
    [ "${CI:-}" = true ] && exit 1
    exit 0
fi
echo "ci-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
