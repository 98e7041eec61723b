#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian 12 machine (or reuse it):
#   - find Python 3.12 (pyenv installs included) and create .venv with it;
#   - install the project and its extras into .venv (only when pyproject.toml changed);
#   - when running as root, apt-get install the Debian packages listed in
#     scripts/debian-packages.txt that are missing (otherwise print what is missing).
# Usage: scripts/bootstrap.sh [extras]   (default extras: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-dev}"

say() { printf '[bootstrap] %s\n' "$*" >&2; }

is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1; }

find_python() {
    local c
    # An explicit choice wins.
    if [ -n "${OPENCC_PYTHON:-}" ] && is_py312 "$OPENCC_PYTHON"; then echo "$OPENCC_PYTHON"; return; fi
    # pyenv installs (the bare python3.12 shim fails unless 3.12 is selected, so ask pyenv's folder).
    local roots=()
    if command -v pyenv >/dev/null 2>&1; then roots+=("$(pyenv root 2>/dev/null)"); fi
    roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv" "/root/.pyenv" "/opt/pyenv")
    for r in "${roots[@]}"; do
        [ -n "$r" ] && [ -d "$r/versions" ] || continue
        for c in $(ls -d "$r"/versions/3.12.*/bin/python3.12 2>/dev/null | sort -V -r); do
            if is_py312 "$c"; then echo "$c"; return; fi
        done
    done
    for c in python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 python3; do
        if command -v "$c" >/dev/null 2>&1 && is_py312 "$(command -v "$c")"; then command -v "$c"; return; fi
    done
    return 1
}

install_debian_packages() {
    local wanted=() missing=() p
    while read -r p; do
        p="${p%%#*}"; p="$(echo "$p" | xargs)"
        for w in $p; do wanted+=("$w"); done  # a line may name several packages
    done < scripts/debian-packages.txt
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing Debian packages (install them as root): ${missing[*]}"
        say "tests that need them will be skipped with a reason"
        return 0
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

PY="$(find_python)" || {
    say "Python 3.12 not found. Install it, e.g. 'pyenv install 3.12' (https://github.com/pyenv/pyenv),"
    say "or point OPENCC_PYTHON at a python3.12 binary, then run this again."
    exit 1
}

if [ -x .venv/bin/python ] && ! is_py312 .venv/bin/python; then
    say "removing .venv built with another Python"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $PY"
    "$PY" -m venv .venv
fi

stamp=".venv/.opencc-installed"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16) $EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing the project with extras [$EXTRAS] into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    pip_log=".venv/pip-install.log"
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]" \
            >"$pip_log" 2>&1; then
        grep -v "is ignored: it is neither a file nor a directory" "$pip_log" | tail -30 >&2
        say "installation failed (full log: $pip_log)"
        exit 1
    fi
    echo "$want" > "$stamp"
fi

install_debian_packages
