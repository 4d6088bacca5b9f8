#!/bin/sh
# Kolibri 0.19.5 behind eventauth in Chromium: installs what is missing from
# Debian (nginx, chromium, nodejs, npm), builds eventauth (debug) unless
# --eventauth-bin is given, and runs run.py. See README.md here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
missing=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    else
        echo "missing:$missing (sudo apt-get install -y$missing)" >&2
        exit 2
    fi
fi
PATH="$PATH:/usr/sbin"
export PATH
case " $* " in
    *" --eventauth-bin "*) ;;
    *) (cd "$repo" && cargo build --quiet) ;;
esac
exec python3 "$here/run.py" "$@"
