#!/usr/bin/env bash
# make test: the README's test command (and what .ci/run calls). Installs and builds what the
# tests need (hack/setup.sh: seconds when done before), brings the one-node test bed up where it
# can run, and runs every test with pytest; extra arguments go to pytest.
#
# Where the bed cannot run (hack/testbed/preflight.sh: not root, no cgroups, ...) the integration
# and end-to-end tests skip, and the end of the run says so loudly (tests/conftest.py); in CI
# (CI=true) they fail instead.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=progress.sh
source "$REPO/hack/progress.sh"

started=$(date +%s)
bash hack/setup.sh
setup_took=$(($(date +%s) - started))

bed_started=$(date +%s)
if reason="$(bash hack/testbed/preflight.sh)"; then
  progress_say "test: the test bed (make testbed-up; reuses a healthy node; the three-node tests make their own, last)"
  make -s testbed-up >/dev/null
else
  progress_say "test: no test bed on this machine ($reason): integration and end-to-end tests will be skipped"
fi
bed_took=$(($(date +%s) - bed_started))

progress_say "test: pytest $*"
pytest_started=$(date +%s)
rc=0
"$REPO/.venv/bin/pytest" "$@" || rc=$?
now=$(date +%s)
progress_say "test: pytest exited $rc; setup $(format_duration "$setup_took"), test bed $(format_duration "$bed_took"), pytest $(format_duration $((now - pytest_started))); $(format_duration $((now - started))) in all"
if [[ -n "$reason" ]]; then
  progress_say "test: NOT A FULL RUN: no test bed on this machine ($reason); see the skips counted above"
fi
exit "$rc"
