#!/usr/bin/env bash
# Installs the oidc-provider peer's pinned packages (package-lock.json) into node_modules/.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "install.sh: node is missing (Node 20 or later)" >&2; exit 1; }
command -v npm >/dev/null || { echo "install.sh: npm is missing" >&2; exit 1; }
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
