#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the demo: everything that exists, locally.
# Extra arguments go to cti-demo (see: .venv/bin/cti-demo --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev,bench,desktop
exec .venv/bin/cti-demo "$@"
