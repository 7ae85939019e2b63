#!/usr/bin/env bash
# Installs the pinned real clients used by `uv run pytest -m clients` (tests/clients) and, with
# --litellm, the LiteLLM peer used by bench/litellm.py. Idempotent: a second run with nothing to do
# only checks versions. Everything comes from the npm registry / PyPI; nothing else is downloaded.
#
#   scripts/install-clients.sh            # Claude Code (clients/node_modules), ~240 MB, ~5 s
#   scripts/install-clients.sh --litellm  # also bench/.venv-litellm (litellm[proxy]), ~1-2 min
set -euo pipefail
cd "$(dirname "$0")/.."

want_litellm=0
for arg in "$@"; do
  case "$arg" in
    --litellm) want_litellm=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

claude_version_wanted="$(node -p 'require("./clients/package.json").dependencies["@anthropic-ai/claude-code"]')"
claude_bin="clients/node_modules/.bin/claude"
claude_version_have="$("$claude_bin" --version 2>/dev/null | cut -d' ' -f1 || true)"
if [[ "$claude_version_have" == "$claude_version_wanted" ]]; then
  echo "claude-code $claude_version_have: already installed ($claude_bin)"
else
  echo "installing claude-code $claude_version_wanted into clients/node_modules ..."
  # npm ci: exactly the lockfile. Its postinstall only hard-links the native binary out of the
  # platform package; it downloads nothing.
  npm ci --prefix clients --no-audit --no-fund --loglevel=error
  "$claude_bin" --version
fi

if [[ "$want_litellm" == 1 ]]; then
  venv=bench/.venv-litellm
  pin="$(grep -E '^litellm' bench/litellm/requirements.txt | sed -E 's/.*==//')"
  have="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)"
  if [[ "$have" == "$pin" ]]; then
    echo "litellm $have: already installed ($venv)"
  else
    echo "installing litellm $pin into $venv ..."
    [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
    # pip's find-links on this machine warn once per missing package; keep the real errors.
    "$venv/bin/pip" install --quiet -r bench/litellm/requirements.txt 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" || true
    "$venv/bin/python" -c 'import importlib.metadata as m; print("litellm", m.version("litellm"))'
  fi
fi
