#!/usr/bin/env bash
# make setup: everything `make demo` and `make test` need on this machine, installed or built
# once. Both commands run it first, so after `git clone` either one is enough; `.ci/run` runs it
# too. Every step is idempotent: a second run only checks (seconds).
#
#   setup.sh [--require-bed | --python-only]
#
# Steps: Debian packages (apt), the Python environment (.venv), Kubernetes and etcd built from
# their Go modules into $KAUDIT_CACHE (/var/cache/kaudit), and the test bed's images (a
# debootstrap-made Debian base, the control-plane images). Where the test bed cannot run at all
# (hack/testbed/preflight.sh: not root, no cgroups, ...) only the Python environment is made and
# the reason is printed; --require-bed (make demo) fails instead. --python-only makes only the
# Python environment (`make venv`, for lint and the unit tests).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=progress.sh
source "$REPO/hack/progress.sh"

KAUDIT_CACHE="${KAUDIT_CACHE:-/var/cache/kaudit}"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
PYTHON="${PYTHON:-python3}"
VENV="$REPO/.venv"

require_bed=""
python_only=""
case "${1:-}" in
  --require-bed) require_bed=1 ;;
  --python-only) python_only=1 ;;
  "") ;;
  *) echo "usage: $0 [--require-bed | --python-only]" >&2; exit 2 ;;
esac

bed_reason=""
[[ -n "$python_only" ]] || bed_reason="$(bash hack/testbed/preflight.sh)" || true
if [[ -n "$bed_reason" && -n "$require_bed" ]]; then
  progress_say "setup: ERROR: $bed_reason"
  exit 1
fi

step_packages() { bash hack/testbed/install-deps.sh; }

step_python() {
  if [[ -f "$VENV/.installed" && "$VENV/.installed" -nt pyproject.toml ]]; then
    STEP_NOTE="up to date with pyproject.toml"
    return 0
  fi
  local logfile="$VENV/install.log"
  "$PYTHON" -m venv "$VENV"
  : >"$logfile"
  run_with_progress "pip install -e '.[test]' (kopf, kubernetes, ruamel.yaml, pytest, mypy, ruff, import-linter)" \
    "$logfile" pip_install
  touch "$VENV/.installed"
  STEP_NOTE="$("$VENV/bin/pip" list --format=freeze 2>/dev/null | wc -l) packages"
}
pip_install() {
  "$VENV/bin/pip" install --upgrade --disable-pip-version-check pip
  "$VENV/bin/pip" install --disable-pip-version-check -e '.[test]'
}

step_kubernetes() { bash hack/testbed/build-k8s.sh; }
step_etcd() { bash hack/testbed/build-etcd.sh; }
step_images() { bash hack/testbed/images.sh build >/dev/null; }

if [[ -n "$python_only" ]]; then
  STEP_NOTE=""
  step_python
  progress_say "setup: Python environment ready${STEP_NOTE:+ ($STEP_NOTE)}"
  exit 0
fi

STEPS=(
  "Debian packages (apt)|step_packages|bed"
  "Python environment (.venv)|step_python|"
  "Kubernetes $K8S_VERSION (7 commands, from the Go module)|step_kubernetes|bed"
  "etcd $ETCD_VERSION (from the Go module)|step_etcd|bed"
  "test-bed images (Debian base, control-plane images)|step_images|bed"
)

started_all=$(date +%s)
summary=()
total=${#STEPS[@]}
i=0
progress_say "setup: $total steps; a step that is already done only checks (seconds)"
[[ -z "$bed_reason" ]] || progress_say "setup: the test bed cannot run here: $bed_reason"
for entry in "${STEPS[@]}"; do
  i=$((i + 1))
  IFS='|' read -r title fn needs <<<"$entry"
  if [[ "$needs" == bed && -n "$bed_reason" ]]; then
    summary+=("$(printf '  %d/%d %-58s %s' "$i" "$total" "$title" "skipped (no test bed here)")")
    continue
  fi
  progress_say "setup: [$i/$total] $title"
  STEP_NOTE=""
  started=$(date +%s)
  "$fn"
  took=$(($(date +%s) - started))
  progress_say "setup: [$i/$total] done in $(format_duration "$took")${STEP_NOTE:+ ($STEP_NOTE)}"
  summary+=("$(printf '  %d/%d %-58s %s' "$i" "$total" "$title" "$(format_duration "$took")")")
done

progress_say "setup: done in $(format_duration $(($(date +%s) - started_all)))"
printf '%s\n' "${summary[@]}" >&2
if [[ -n "$bed_reason" ]]; then
  progress_say "setup: NOTE: no test bed on this machine ($bed_reason): integration and end-to-end tests will be skipped"
fi
