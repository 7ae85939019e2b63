#!/usr/bin/env bash
# Installs everything the real-client tests need (tests/clients, run by `uv run pytest -m clients`
# and by .ci/run) before they start: no test downloads anything. Idempotent: a second run with
# nothing to do only checks versions. Everything comes from the npm registry / PyPI.
#
#   scripts/install-clients.sh            # Claude Code + Codex (clients/node_modules, npm ci, ~250 MB)
#                                         # the anthropic<2 and openai Agents SDK environments (.clients/, uv)
#   scripts/install-clients.sh --litellm  # also bench/.venv-litellm (litellm[proxy]), ~1-2 min
set -euo pipefail
cd "$(dirname "$0")/.."

want_litellm=0
for arg in "$@"; do
  case "$arg" in
    --litellm) want_litellm=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

need() {
  command -v "$1" >/dev/null 2>&1 && return
  echo "install-clients: '$1' not found; $2" >&2
  exit 1
}

# ---- Node clients: every pin of clients/package.json, from its lockfile (npm ci).
need node "the real clients need Node >= 18 and npm"
need npm "the real clients need Node >= 18 and npm"
pinned() { node -p "require('./clients/package.json').dependencies['$1']"; }
# name, npm package, binary in clients/node_modules/.bin
clients=(
  "claude-code @anthropic-ai/claude-code claude"
  "codex @openai/codex codex"
)
version_of() {  # the version the installed binary reports, or nothing
  local out
  out="$("clients/node_modules/.bin/$1" --version 2>/dev/null || true)"
  case "$1" in
    claude) echo "${out%% *}" ;;          # "2.1.197 (Claude Code)"
    codex) echo "${out##* }" ;;           # "codex-cli 0.169.0"
  esac
}
stale=()
for entry in "${clients[@]}"; do
  read -r name package binary <<<"$entry"
  want="$(pinned "$package")"
  have="$(version_of "$binary")"
  if [[ "$have" == "$want" ]]; then
    echo "$name $have: already installed (clients/node_modules/.bin/$binary)"
  else
    stale+=("$name $want (have: ${have:-none})")
  fi
done
if (( ${#stale[@]} )); then
  echo "installing into clients/node_modules: ${stale[*]} ..."
  # npm ci: exactly the lockfile. Claude Code's postinstall only hard-links the native binary out
  # of its platform package; Codex ships its binary in a platform package too. Nothing else is
  # downloaded.
  npm ci --prefix clients --no-audit --no-fund --loglevel=error
  for entry in "${clients[@]}"; do
    read -r name package binary <<<"$entry"
    want="$(pinned "$package")"
    have="$(version_of "$binary")"
    if [[ "$have" != "$want" ]]; then
      echo "install-clients: $name $want wanted, clients/node_modules/.bin/$binary reports '${have}'" >&2
      exit 1
    fi
    echo "$name $have: installed"
  done
fi

# ---- anthropic<2 SDK environments (clients/legacy-anthropic.txt), one uv venv each in .clients/.
need uv "install it with: pip install uv"
python="$(uv run --frozen --quiet python -c 'import sys; print(sys._base_executable)')"
grep -E '^anthropic==' clients/legacy-anthropic.txt | while read -r requirement; do
  version="${requirement#anthropic==}"
  env=".clients/anthropic-$version"
  have="$("$env/bin/python" -c 'import anthropic; print(anthropic.__version__)' 2>/dev/null || true)"
  if [[ "$have" == "$version" ]]; then
    echo "$requirement: already installed ($env)"
    continue
  fi
  echo "installing $requirement into $env ..."
  # Built aside and moved into place: a half-built environment is never taken for a ready one.
  rm -rf "$env.tmp" "$env"
  uv venv --quiet --python "$python" "$env.tmp"
  uv pip install --quiet --python "$env.tmp/bin/python" "$requirement"
  mv "$env.tmp" "$env"
  "$env/bin/python" -c 'import anthropic; print("anthropic", anthropic.__version__, "installed")'
done

# ---- the openai Agents SDK (clients/openai-agents.txt), its own uv venv in .clients/: it needs a
# typing-extensions newer than mitmproxy allows, so it cannot live in the project's environment.
agents_pin="$(grep -E '^openai-agents==' clients/openai-agents.txt)"
agents_version="${agents_pin#openai-agents==}"
env=".clients/openai-agents-$agents_version"
have="$("$env/bin/python" -c 'import agents; print(agents.__version__)' 2>/dev/null || true)"
if [[ "$have" == "$agents_version" ]]; then
  echo "$agents_pin: already installed ($env)"
else
  echo "installing $agents_pin into $env ..."
  rm -rf "$env.tmp" "$env"
  uv venv --quiet --python "$python" "$env.tmp"
  uv pip install --quiet --python "$env.tmp/bin/python" -r clients/openai-agents.txt
  mv "$env.tmp" "$env"
  "$env/bin/python" -c 'import agents; print("openai-agents", agents.__version__, "installed")'
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
