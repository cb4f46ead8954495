#!/usr/bin/env bash
# Refresh constraints/ci.txt on purpose: resolve ".[train,test]" afresh in a throwaway venv and freeze
# it. Run the tests with the new file (README, "Run the tests") before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q -e ".[train,test]"
{
    echo "# The versions CI tested: pip install -c constraints/ci.txt -e \".[train,test]\" (also fits \".[onnx]\")."
    echo "# pyproject.toml keeps ranges for library users. Refresh deliberately: bash tools/refresh-constraints.sh"
    "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^-e'
} > constraints/ci.txt
echo "wrote constraints/ci.txt ($(grep -vc '^#' constraints/ci.txt) pins)"
