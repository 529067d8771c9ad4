#!/bin/sh
# Re-renders docs/architecture.svg (the picture in ARCHITECTURE.md) from its source,
# docs/architecture.dot. Needs Graphviz (`dot`). Run from anywhere: sh scripts/render-architecture.sh
set -eu
cd "$(dirname "$0")/.."
command -v dot >/dev/null 2>&1 || { echo "render-architecture: Graphviz 'dot' not found (apt-get install graphviz)" >&2; exit 1; }
dot -Tsvg docs/architecture.dot -o docs/architecture.svg
echo "wrote docs/architecture.svg"
