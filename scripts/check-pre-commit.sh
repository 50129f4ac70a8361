#!/usr/bin/env bash
# The pre-commit hook of .pre-commit-hooks.yaml, through pre-commit itself (`try-repo`, which
# uses this working tree) on a sample git repository: a valid manifest passes, an invalid one
# fails with wf's diagnostic, other TOML files are left alone. Installs pre-commit with pip
# when missing; without it this skips loudly, except in CI (CI=true), where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PRE_COMMIT_VERSION=4.7.0

# shellcheck source=scripts/lib/skip-or-fail.sh
source scripts/lib/skip-or-fail.sh

wf="${WF:-${CARGO_TARGET_DIR:-target}/debug/wf}"
[[ -x "$wf" ]] || skip_or_fail "no wf binary at $wf (build it first, or set WF)"
wf=$(cd "$(dirname "$wf")" && pwd)/$(basename "$wf")

if ! command -v pre-commit >/dev/null; then
    pip=$(command -v pip3 || command -v pip || true)
    [[ -n "$pip" ]] || skip_or_fail "pre-commit is not installed and pip is missing"
    echo "check-pre-commit: installing pre-commit (pip install pre-commit==$PRE_COMMIT_VERSION)" >&2
    "$pip" install -q "pre-commit==$PRE_COMMIT_VERSION" >&2 \
        || skip_or_fail "pip could not install pre-commit"
    hash -r
    command -v pre-commit >/dev/null || skip_or_fail "pre-commit installed but not on PATH"
fi

sample=$(mktemp -d)
trap 'rm -rf "$sample"' EXIT
bin="$sample/bin"
mkdir -p "$bin" && ln -s "$wf" "$bin/wf"
export PATH="$bin:$PATH" PRE_COMMIT_HOME="$sample/cache"
export GIT_AUTHOR_NAME=wf GIT_AUTHOR_EMAIL=wf@example.org
export GIT_COMMITTER_NAME=wf GIT_COMMITTER_EMAIL=wf@example.org
cd "$sample"
mkdir project && cd project
git init -q
printf '[tasks.build]\nrun = "true"\n' > wf.toml
mkdir -p sub && printf '[tasks.a]\nrun = "true"\n' > sub/deploy.wf.toml
printf 'not = [valid wf\n' > pyproject.toml
git add -A

try_hook() {
    pre-commit try-repo "$repo" wf-validate --all-files --verbose 2>&1
}

if ! out=$(try_hook); then
    echo "$out" >&2
    echo "check-pre-commit: the hook failed on valid manifests" >&2
    exit 1
fi
grep -q 'wf.toml' <<<"$out" || { echo "$out" >&2; echo "check-pre-commit: wf.toml was not checked" >&2; exit 1; }
grep -q 'deploy.wf.toml' <<<"$out" || { echo "$out" >&2; echo "check-pre-commit: sub/deploy.wf.toml was not checked" >&2; exit 1; }
if grep -q 'pyproject.toml' <<<"$out"; then
    echo "$out" >&2; echo "check-pre-commit: the hook checked pyproject.toml" >&2; exit 1
fi

printf '[tasks.build]\nrun = "true"\ntimout = "5m"\n' > wf.toml
git add -A
if out=$(try_hook); then
    echo "$out" >&2
    echo "check-pre-commit: the hook passed an invalid manifest" >&2
    exit 1
fi
grep -q 'timout' <<<"$out" || { echo "$out" >&2; echo "check-pre-commit: no diagnostic for the bad key" >&2; exit 1; }
echo "check-pre-commit: ok (pre-commit $(pre-commit --version | awk '{print $2}'))"
