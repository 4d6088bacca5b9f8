#!/usr/bin/env bash
# Property-based API testing of every surface against /openapi.json with
# schemathesis (`--checks all`): starts the given eventauth binary on a free
# loopback port with a fresh embedded store, creates the credentials each
# surface needs, runs schemathesis with the hooks beside this script, prints
# a summary of the failures by surface and check, and exits non-zero on any
# failure (or a panic in the server's log).
#
#   scripts/schemathesis/run.sh [path/to/eventauth]     (default target/debug/eventauth)
#
# Environment:
#   ST_MAX_EXAMPLES   examples per operation and phase (default 100: about 3
#                     minutes of testing on 2 cores with a debug build)
#   ST_SEED           hypothesis seed (default 20261204)
#   ST_VENV           virtualenv with schemathesis (default target/schemathesis/venv);
#                     created, and schemathesis==$ST_VERSION installed, when missing
#   ST_REPORT_DIR     where the reports go (default target/schemathesis/report)
#   ST_CONFIG         a schemathesis.toml (default: scripts/schemathesis/schemathesis.toml
#                     when it exists): per-operation expected statuses
#   ST_ARGS           more arguments for `schemathesis run` (e.g. --continue-on-failure,
#                     --include-tag kolibri, --baseline FILE)
set -euo pipefail

ST_VERSION=4.32.5
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath -m "${1:-$root/target/debug/eventauth}")
max_examples=${ST_MAX_EXAMPLES:-100}
seed=${ST_SEED:-20261204}
venv=${ST_VENV:-$root/target/schemathesis/venv}
report_dir=${ST_REPORT_DIR:-$root/target/schemathesis/report}
config=${ST_CONFIG:-$here/schemathesis.toml}
config_args=()
[ -f "$config" ] && config_args=(--config-file "$(realpath "$config")")

log() { printf '== %s\n' "$*" >&2; }
[ -x "$binary" ] || { echo "no eventauth binary at $binary (cargo build first)" >&2; exit 2; }

# --- schemathesis, pinned, in a venv of its own --------------------------------
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
  log "installing schemathesis $ST_VERSION into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

# --- a fresh service ------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/eventauth-schemathesis.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

rand() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
password="st-$(rand)"
email=st-admin@example.com
kolibri_user=st_root

# Only this run's settings: the embedded store in a fresh directory, no
# PostgreSQL, no NATS, no mail. Rate limits and login throttling are opened
# up (they are tested elsewhere; here they would turn most answers into 429).
unset DATABASE_URL NATS_URL EVENTAUTH_SMTP_URL
export EVENTAUTH_DATA_DIR="$work/data"
export EVENTAUTH_ADDR=127.0.0.1:0
export EVENTAUTH_LOG_FORMAT=json
export EVENTAUTH_OPENARCHIVER_RATE_LIMIT=0
export EVENTAUTH_LOGIN_FREE_FAILURES=100
export EVENTAUTH_LOGIN_MAX_FAILURES_PER_IP=1000000
export EVENTAUTH_INTROSPECTION_CLIENTS="st:$(rand)"
export EVENTAUTH_METRICS_TOKEN="$(rand)"
export EVENTAUTH_ADMIN_PASSWORD="$password"
mkdir -p "$EVENTAUTH_DATA_DIR"

log "credentials (embedded store in $work)"
admin_log=$("$binary" admin create --email "$email" 2>&1)
admin_id=$(printf '%s\n' "$admin_log" | sed -n 's/.*"administrator created","user_id":"\([0-9a-f-]*\)".*/\1/p' | head -1)
[ -n "$admin_id" ] || { echo "admin create: no user id in its output:" >&2; echo "$admin_log" >&2; exit 2; }
facility=$("$binary" collection create --kind facility --name Home --preset nonformal 2>/dev/null | tail -1)
kolibri_id=$("$binary" facility-user create --facility "$facility" --username "$kolibri_user" \
  --password "$password" --superuser 2>/dev/null | tail -1)
[ -n "$kolibri_id" ] || { echo "facility-user create failed" >&2; exit 2; }
account=$("$binary" account create --title Acme 2>/dev/null | tail -1)
"$binary" account add-member --account "$account" --email "$email" --role admin >/dev/null 2>&1

log "starting $binary"
"$binary" serve >"$work/server.log" 2>&1 &
server_pid=$!
base=
for _ in $(seq 1 100); do
  base=$(sed -n 's/.*"eventauth listening","url":"\(http[^"]*\)".*/\1/p' "$work/server.log" | head -1)
  [ -n "$base" ] && curl -fsS "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "the service exited" >&2; exit 2; }
  sleep 0.2
done
[ -n "$base" ] || { cat "$work/server.log" >&2; echo "the service did not start" >&2; exit 2; }
log "listening at $base"

# --- schemathesis ---------------------------------------------------------------
export EVENTAUTH_ST_BASE="$base"
export EVENTAUTH_ST_EMAIL="$email"
export EVENTAUTH_ST_PASSWORD="$password"
export EVENTAUTH_ST_KOLIBRI="$kolibri_user"
export EVENTAUTH_ST_CLIENT="$EVENTAUTH_INTROSPECTION_CLIENTS"
export EVENTAUTH_ST_METRICS="$EVENTAUTH_METRICS_TOKEN"
export EVENTAUTH_ST_PROTECT="$admin_id,${admin_id//-/},$kolibri_id,${kolibri_id//-/}"
export EVENTAUTH_ST_DROPPED="$report_dir/dropped.tsv"
export SCHEMATHESIS_HOOKS="$here/hooks.py"
export PYTHONDONTWRITEBYTECODE=1

rm -rf "$report_dir"
mkdir -p "$report_dir"
curl -fsS "$base/openapi.json" -o "$report_dir/openapi.json"
log "schemathesis $ST_VERSION: --checks all, $max_examples examples per operation, seed $seed"
started=$(date +%s)
status=0
# Its example database and cache go into the report directory, not the
# caller's working directory.
(cd "$report_dir" && "$venv/bin/schemathesis" "${config_args[@]}" run "$base/openapi.json" \
  --checks all \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --no-color \
  --request-timeout 30 \
  --report junit,ndjson \
  --report-dir "$report_dir" \
  ${ST_ARGS:-}) >"$report_dir/schemathesis.out" 2>&1 || status=$?
elapsed=$(( $(date +%s) - started ))

# The run's own account of itself, then our summary of its failures.
sed -n '/^=* SUMMARY =*$/,$p' "$report_dir/schemathesis.out"
echo
ndjson=$(ls "$report_dir"/ndjson-*.ndjson 2>/dev/null | head -1 || true)
if [ -n "$ndjson" ]; then
  python3 "$here/summarize.py" "$ndjson" --openapi "$report_dir/openapi.json" \
    --markdown "$report_dir/failures.md" || true
fi

# What hooks.py's filter_failure dropped (the surfaces' deliberate answers,
# README.md), by check and operation.
if [ -s "$report_dir/dropped.tsv" ]; then
  echo "dropped by filter_failure (deliberate, see README.md), by check, operation and status:"
  sort "$report_dir/dropped.tsv" | uniq -c | sed 's/\t/  /g'
  echo
fi

cp "$work/server.log" "$report_dir/server.log"
panics=$(grep -c 'panicked at' "$report_dir/server.log" || true)
errors=$(grep -c '"status":5[0-9][0-9]' "$report_dir/server.log" || true)
echo
echo "server: $panics panic(s), $errors 5xx answer(s) logged (server.log in $report_dir)"
grep -A1 'panicked at' "$report_dir/server.log" | head -20 || true
[ "$panics" = 0 ] || [ "$status" != 0 ] || status=1

if [ "$status" = 0 ]; then
  echo "schemathesis: passed in ${elapsed}s"
else
  echo "schemathesis: FAILED (exit $status) in ${elapsed}s; details: $report_dir/schemathesis.out, $report_dir/failures.md"
fi
exit "$status"
