#!/usr/bin/env bash
# Checks the Azure deployment with the field's own tools:
#   1. checkov on infra/ (Bicep): 0 failed checks, and every skip carries its reason
#      inline (`// checkov:skip=CKV_...:reason` inside the resource it skips);
#   2. azure-functions-doctor on the app: 0 failures for a Flex Consumption, Python 3.11
#      target.
# The tools live in their own venv (.venv-tools): checkov pins many packages that must
# not leak into the app's .venv. Works on a fresh Debian machine with Python 3.11 and
# PyPI; exits non-zero when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
TOOLS=".venv-tools"
CHECKOV_VERSION="3.3.30"
DOCTOR_VERSION="0.23.1"
STAMP="$TOOLS/.installed-checkov-$CHECKOV_VERSION-doctor-$DOCTOR_VERSION"

make_venv() {
    "$PYTHON" -m venv "$TOOLS" 2>/dev/null && return 0
    # Debian ships venv's ensurepip separately.
    rm -rf "$TOOLS"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "check-infra: installing python3-venv (Debian)" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$TOOLS" && return 0
    fi
    echo "check-infra: cannot create a venv; install python3-venv (apt-get install python3-venv)" >&2
    return 1
}

if [ ! -f "$STAMP" ]; then
    [ -x "$TOOLS/bin/python" ] || make_venv
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check \
        "checkov==$CHECKOV_VERSION" "azure-functions-doctor==$DOCTOR_VERSION"
    touch "$STAMP"
fi

report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
status=0

echo "== checkov $CHECKOV_VERSION: infra/ (Bicep)"
# --skip-download: no calls to the vendor's platform; the checks ship with the package.
"$TOOLS/bin/checkov" -d infra --framework bicep --skip-download --compact \
    -o cli -o json --output-file-path "console,$report/checkov.json" || status=1
"$TOOLS/bin/python" - "$report/checkov.json" <<'PY' || status=1
import json, sys

data = json.load(open(sys.argv[1]))
runs = data if isinstance(data, list) else [data]
failed = skipped = passed = unexplained = unparsed = 0
for run in runs:
    if "summary" not in run:  # nothing scanned
        continue
    passed += run["summary"]["passed"]
    failed += run["summary"]["failed"]
    # A file checkov cannot parse is skipped silently: every check in it would be missing.
    unparsed += run["summary"].get("parsing_errors", 0)
    for check in run["results"].get("skipped_checks", []):
        skipped += 1
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        if not reason or reason == "No comment provided":
            print(f"checkov: {check['check_id']} skipped without a reason in {check['file_path']}")
            unexplained += 1
if passed + failed == 0:
    print("checkov: no Bicep resources were checked")
    sys.exit(1)
print(
    f"checkov: {passed} passed, {failed} failed, {skipped} skipped "
    f"({unexplained} without an inline reason), {unparsed} file(s) not parsed"
)
sys.exit(1 if failed or unexplained or unparsed else 0)
PY

echo
echo "== azure-functions-doctor $DOCTOR_VERSION: the app (Flex Consumption, Python 3.11)"
if [ ! -f function_app.py ]; then
    echo "azure-functions-doctor: function_app.py does not exist yet; not run"
else
    "$TOOLS/bin/azure-functions-doctor" doctor --path . \
        --hosting-plan flex-consumption --target-python 3.11 \
        --summary-json "$report/doctor.json" || status=1
    "$TOOLS/bin/python" - "$report/doctor.json" <<'PY' || status=1
import json, sys

summary = json.load(open(sys.argv[1]))
print(
    "azure-functions-doctor: {passed} passed, {failed} failed, {warned} warnings, "
    "{skipped} skipped".format(**summary)
)
sys.exit(1 if summary["failed"] else 0)
PY
fi

echo
if [ "$status" -ne 0 ]; then
    echo "check-infra: FAILED"
else
    echo "check-infra: OK"
fi
exit "$status"
