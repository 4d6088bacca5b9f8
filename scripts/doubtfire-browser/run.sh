#!/bin/sh
# Doubtfire's real web front end (doubtfire-web: Angular 17 + AngularJS
# hybrid, development build) against eventauth's Doubtfire surface, driven in
# Debian's Chromium by playwright-core. See README.md here.
#
#   scripts/doubtfire-browser/run.sh [--out DIR] [--work DIR] [--df-src DIR]
#       [--eventauth-bin PATH] [--port N] [--keep]
#
# --df-src: doubtfire-web's source, a bare git directory (git archive HEAD) or
# a work tree; default the mirror /work/.mirror/doubtfire-lms+doubtfire-web/repo.
# --work: where the front end is built and tools are installed (kept between
# runs: the build is redone only when the source's commit changes).
# The development build calls ${location.protocol}//${location.hostname}:3000/api,
# so eventauth listens on 127.0.0.1:3000 (not configurable) and the front end
# is served from http://127.0.0.1:$port (4200).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

out=""
work=/tmp/doubtfire-frontend
df_src=/work/.mirror/doubtfire-lms+doubtfire-web/repo
ea_bin=""
port=4200
ea_port=3000
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --df-src) df_src=$2; shift 2 ;;
        --eventauth-bin) ea_bin=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out=$(mktemp -d /tmp/doubtfire-browser-XXXXXX)
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
work=$(cd "$work" && pwd)
log() { echo "[run] $*"; }

# --- tools from Debian and npm (never a browser download)
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    else
        echo "missing:$missing (sudo apt-get install -y$missing)" >&2
        exit 2
    fi
fi
if [ ! -d "$work/node/node_modules/playwright-core" ]; then
    log "npm install playwright-core@1.65.2"
    npm install --prefix "$work/node" --no-audit --no-fund playwright-core@1.65.2 >/dev/null
fi
cp "$here/browse.mjs" "$here/summarize.mjs" "$work/node/"

# --- doubtfire-web, development build (grunt build, then ng build --configuration development)
if [ -f "$df_src/package.json" ]; then
    stamp="worktree-$(find "$df_src/src" "$df_src/package.json" -type f -newer "$work/df/.built" 2>/dev/null | head -1 | wc -l)"
    [ -f "$work/df/.built" ] && [ "$stamp" = "worktree-0" ] && rebuild=0 || rebuild=1
else
    commit=$(git --git-dir="$df_src" rev-parse HEAD)
    [ "$(cat "$work/df/.built" 2>/dev/null || true)" = "$commit" ] && rebuild=0 || rebuild=1
fi
if [ "$rebuild" = 1 ]; then
    log "extracting doubtfire-web into $work/df"
    rm -rf "$work/df" && mkdir -p "$work/df"
    if [ -f "$df_src/package.json" ]; then
        (cd "$df_src" && tar -c --exclude node_modules --exclude dist --exclude build --exclude .git .) | tar -x -C "$work/df"
    else
        git --git-dir="$df_src" archive HEAD | tar -x -C "$work/df"
    fi
    # Two changes to the locked dependencies, everything else as locked:
    # - @angular/upgrade 17.0.3 (locked) is missing from the registry reachable
    #   here (404): 17.0.7, same minor as the other @angular/* 17.0.3;
    # - @angular-devkit/build-angular 17.0.1 (locked) fails the development
    #   build ("Can't find stylesheet to import. @use '@material/theme/replace'"
    #   from @material/fab/_fab.scss): 17.0.10, the last 17.0.x.
    # Re-resolving everything instead (no lockfile) takes @angular/* 17.3,
    # whose NgClass no longer fits @angular/flex-layout 15's ClassDirective
    # ("this._renderer.addClass is not a function": no page renders).
    node -e 'const fs=require("fs");const f=process.argv[1];const p=JSON.parse(fs.readFileSync(f));p.dependencies["@angular/upgrade"]="17.0.7";p.devDependencies["@angular-devkit/build-angular"]="17.0.10";fs.writeFileSync(f,JSON.stringify(p,null,2));' "$work/df/package.json"
    # --legacy-peer-deps: @uirouter/angular 12 asks for Angular 16 (npm >= 7
    # refuses); npm install (not ci) re-resolves just the two changed entries.
    log "npm install --legacy-peer-deps (the lockfile, but for the two pins; about 2 minutes)"
    (cd "$work/df" && HUSKY=0 npm install --legacy-peer-deps --no-audit --no-fund) > "$out/npm-install.log" 2>&1 ||
        { echo "npm install failed; see $out/npm-install.log" >&2; exit 1; }
    log "grunt build (AngularJS part: build/index.html, templates)"
    (cd "$work/df" && npx grunt build) > "$out/build.log" 2>&1
    log "ng build --configuration development (about 2 minutes)"
    (cd "$work/df" && NODE_OPTIONS=--max_old_space_size=6144 NG_CLI_ANALYTICS=false \
        npx ng build --configuration development) >> "$out/build.log" 2>&1
    [ -f "$work/df/dist/browser/index.html" ] || { echo "no dist/browser/index.html; see $out/build.log" >&2; exit 1; }
    if [ -f "$df_src/package.json" ]; then touch "$work/df/.built"; else echo "$commit" > "$work/df/.built"; fi
fi

# --- eventauth
if [ -z "$ea_bin" ]; then
    (cd "$repo" && cargo build --quiet)
    ea_bin="$repo/target/debug/eventauth"
fi

for p in "$port" "$ea_port"; do
    if curl -s -o /dev/null "http://127.0.0.1:$p/"; then echo "port $p is in use" >&2; exit 2; fi
done

pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'cleanup; exit 143' INT TERM

base="http://127.0.0.1:$port"
api="http://127.0.0.1:$ea_port"
# A clean environment for eventauth: nothing inherited from the caller's.
unset_env=$(env | sed -n 's/^\(EVENTAUTH_[A-Z0-9_]*\)=.*/-u \1/p' | tr '\n' ' ')
log "eventauth on 127.0.0.1:$ea_port (data in $out/eventauth-data), CORS for $base and http://localhost:$port"
# shellcheck disable=SC2086
env $unset_env -u DATABASE_URL -u NATS_URL \
    EVENTAUTH_DATA_DIR="$out/eventauth-data" EVENTAUTH_ADDR="127.0.0.1:$ea_port" \
    EVENTAUTH_CORS_ORIGINS="$base,http://localhost:$port" \
    EVENTAUTH_DOUBTFIRE_FRONTEND_URL="$base" \
    "$ea_bin" serve > "$out/eventauth.log" 2>&1 &
pids="$pids $!"
log "front end: python3 -m http.server on 127.0.0.1:$port from $work/df/dist/browser"
python3 -m http.server --bind 127.0.0.1 --directory "$work/df/dist/browser" "$port" > "$out/frontend.log" 2>&1 &
pids="$pids $!"

ready=0
for _ in $(seq 1 60); do
    if curl -sf "$api/api/auth/method" 2>/dev/null | grep -q '"method"' &&
       curl -sf -o /dev/null "$base/index.html"; then ready=1; break; fi
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    echo "the front end or eventauth did not come up; see $out/*.log" >&2
    exit 1
fi

log "browsing (output in $out)"
rc=0
(cd "$work/node" && BASE="$base" API="$api" OUT="$out" CHROMIUM="$(command -v chromium)" node browse.mjs) || rc=$?
node "$work/node/summarize.mjs" "$out" > /dev/null || true
log "report: $out/report.md"
if [ "$keep" = 1 ]; then
    log "front end $base (student@example.com / correct horse battery), Ctrl-C ends it"
    wait
fi
exit $rc
