# Sourced by scripts/serve and scripts/test: makes .venv and installs zcontacts into it when needed.
# Reinstalls only when pyproject.toml changes, so later runs start at once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python="${PYTHON:-}"
if [ -z "$python" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
fi
if [ -z "$python" ]; then
  echo "zcontacts needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $python" >&2
  "$python" -m venv .venv
fi
stamp=".venv/.zcontacts-installed"
want="$(cat pyproject.toml setup.py src/zcontacts/storage/_walbuffer.c | sha256sum | cut -d' ' -f1)-${ZCONTACTS_EXTRAS:-dev}"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "installing zcontacts and its dependencies into .venv" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${ZCONTACTS_EXTRAS:-dev}]" >&2
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
