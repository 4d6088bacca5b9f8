#!/bin/sh
# Open Archiver's real SvelteKit front end with eventauth as its backend auth
# API, driven in Debian's Chromium by playwright-core. See README.md here.
#
#   scripts/openarchiver-browser/run.sh [--out DIR] [--work DIR] [--oa-src DIR]
#       [--eventauth-bin PATH] [--port N] [--eventauth-port N] [--keep]
#
# --oa-src: Open Archiver's source, a bare git directory (git archive HEAD) or
# a work tree; default the mirror /work/.mirror/LogicLabs-OU+OpenArchiver/repo.
# --work: where the front end is built and tools are installed (kept between
# runs: the build is redone only when the source's commit changes).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

out=""
work=/tmp/openarchiver-frontend
oa_src=/work/.mirror/LogicLabs-OU+OpenArchiver/repo
ea_bin=""
port=3010
ea_port=4010
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --oa-src) oa_src=$2; shift 2 ;;
        --eventauth-bin) ea_bin=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --eventauth-port) ea_port=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
proxy_port=$((ea_port + 1))
[ -n "$out" ] || out=$(mktemp -d /tmp/openarchiver-browser-XXXXXX)
mkdir -p "$out" "$work"
out=$(cd "$out" && pwd)
log() { echo "[run] $*"; }

# --- tools from Debian and npm (never a browser download)
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    else
        echo "missing:$missing (sudo apt-get install -y$missing)" >&2
        exit 2
    fi
fi
if [ ! -x "$work/tools/node_modules/.bin/pnpm" ]; then
    log "npm install pnpm@10.13.1 (Open Archiver's packageManager)"
    npm install --prefix "$work/tools" --no-audit --no-fund pnpm@10.13.1 >/dev/null
fi
pnpm="$work/tools/node_modules/.bin/pnpm"
if [ ! -d "$work/node/node_modules/playwright-core" ]; then
    log "npm install playwright-core@1.65.2"
    npm install --prefix "$work/node" --no-audit --no-fund playwright-core@1.65.2 >/dev/null
fi
cp "$here/browse.mjs" "$here/summarize.mjs" "$work/node/"

# --- Open Archiver's front end (packages/frontend + packages/types), built with adapter-node
if [ -d "$oa_src/packages/frontend" ]; then
    stamp="worktree-$(find "$oa_src/packages/frontend" "$oa_src/packages/types" -type f -newer "$work/oa/.built" 2>/dev/null | head -1 | wc -l)"
    [ -f "$work/oa/.built" ] && [ "$stamp" = "worktree-0" ] && rebuild=0 || rebuild=1
else
    commit=$(git -C "$oa_src" rev-parse HEAD)
    [ "$(cat "$work/oa/.built" 2>/dev/null || true)" = "$commit" ] && rebuild=0 || rebuild=1
fi
if [ "$rebuild" = 1 ]; then
    log "extracting Open Archiver's front end into $work/oa"
    rm -rf "$work/oa" && mkdir -p "$work/oa"
    files="packages/frontend packages/types package.json pnpm-workspace.yaml pnpm-lock.yaml tsconfig.base.json tsconfig.build.json"
    if [ -d "$oa_src/packages/frontend" ]; then
        (cd "$oa_src" && tar -c --exclude node_modules --exclude .svelte-kit --exclude build $files) | tar -x -C "$work/oa"
    else
        git -C "$oa_src" archive HEAD $files | tar -x -C "$work/oa"
    fi
    # The root package.json's own (dev) dependencies are the docs site and
    # scripts (vitepress-openapi 0.1.18 is gone from the registry): not the front end's.
    node -e 'const fs=require("fs");const p=JSON.parse(fs.readFileSync(process.argv[1]));p.dependencies={};p.devDependencies={};fs.writeFileSync(process.argv[1],JSON.stringify(p,null,1));' "$work/oa/package.json"
    log "pnpm install (frontend and its workspace dependency @open-archiver/types)"
    (cd "$work/oa" && "$pnpm" install --filter "@open-archiver/frontend..." --no-frozen-lockfile) > "$out/pnpm-install.log" 2>&1
    log "building @open-archiver/types and the front end (about 3 minutes)"
    (cd "$work/oa/packages/types" && "$pnpm" build) > "$out/build.log" 2>&1
    (cd "$work/oa/packages/frontend" && "$pnpm" build) >> "$out/build.log" 2>&1
    if [ -d "$oa_src/packages/frontend" ]; then touch "$work/oa/.built"; else echo "$commit" > "$work/oa/.built"; fi
fi

# --- eventauth
if [ -z "$ea_bin" ]; then
    (cd "$repo" && cargo build --quiet)
    ea_bin="$repo/target/debug/eventauth"
fi

for p in "$port" "$ea_port" "$proxy_port"; do
    if curl -s -o /dev/null "http://127.0.0.1:$p/"; then echo "port $p is in use" >&2; exit 2; fi
done

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

log "eventauth on 127.0.0.1:$ea_port (data in $out/eventauth-data)"
EVENTAUTH_DATA_DIR="$out/eventauth-data" EVENTAUTH_ADDR="127.0.0.1:$ea_port" \
EVENTAUTH_OPENARCHIVER_JWT_SECRET="$secret" EVENTAUTH_OPENARCHIVER_RATE_LIMIT=0 \
    "$ea_bin" serve > "$out/eventauth.log" 2>&1 &
pids="$pids $!"
log "logging proxy on 127.0.0.1:$proxy_port -> eventauth"
node "$here/proxy.mjs" "$proxy_port" "http://127.0.0.1:$ea_port" "$out/backend.jsonl" > "$out/proxy.log" 2>&1 &
pids="$pids $!"
log "front end (node build/index.js) on 127.0.0.1:$port, PORT_BACKEND=$proxy_port"
(cd "$work/oa/packages/frontend" && PORT=$port HOST=127.0.0.1 ORIGIN="http://127.0.0.1:$port" \
    PORT_BACKEND=$proxy_port JWT_SECRET="$secret" exec node build/index.js) > "$out/frontend.log" 2>&1 &
pids="$pids $!"

ready=0
for _ in $(seq 1 60); do
    if curl -sf "http://127.0.0.1:$port/api/v1/auth/status" 2>/dev/null | grep -q '"needsSetup":true'; then ready=1; break; fi
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    echo "the front end or eventauth did not come up; see $out/*.log" >&2
    exit 1
fi

log "browsing (output in $out)"
rc=0
(cd "$work/node" && BASE="http://127.0.0.1:$port" PROXY="http://127.0.0.1:$proxy_port" \
    OUT="$out" CHROMIUM="$(command -v chromium)" JWT_SECRET="$secret" node browse.mjs) || rc=$?
node "$work/node/summarize.mjs" "$out" > /dev/null || true
log "report: $out/report.md"
if [ "$keep" = 1 ]; then
    log "front end http://127.0.0.1:$port (admin ada@example.com), Ctrl-C ends it"
    wait
fi
exit $rc
