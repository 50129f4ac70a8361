# Sourced by the check scripts. `skip_or_fail REASON` ends the calling script: a failure in CI
# (CI=true), else a loud skip. Messages are prefixed with the script's name.
skip_or_fail() {
    local name
    name=$(basename "$0" .sh)
    if [[ "${CI:-}" == "true" ]]; then
        echo "$name: FAILED: $1" >&2
        exit 1
    fi
    echo "$name: SKIPPED: $1 (set CI=true to make this an error)" >&2
    exit 0
}
