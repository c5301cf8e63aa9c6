#!/usr/bin/env bash
# Debian packages the project needs outside Python, installed with apt-get when root.
#
#   reports  (default) WeasyPrint (PDF) loads Pango, PangoFT2 and HarfBuzz's subsetter, CairoSVG
#            (PNG) loads Cairo, and both draw with the DejaVu fonts installed here (reports use no
#            web font).
#   browser  the browser tests drive Debian's Chromium (/usr/bin/chromium) with Playwright
#            (Playwright's own browser download does not work here); npm installs axe-core.
#
# Usage: scripts/system-libs.sh [reports|browser]   exit 0 when everything is there; otherwise
#        install the missing Debian packages with apt-get when root, else say what to install.
set -euo pipefail

PROG=${0##*/}
GROUP=${1:-reports}

have_lib() {
    local ldconfig
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    "$ldconfig" -p 2>/dev/null | grep -q "[[:space:]]$1 "
}

missing=()
case $GROUP in
reports)
    why="PDF and PNG reports need them"
    # library soname -> Debian package
    for entry in \
        "libpango-1.0.so.0 libpango-1.0-0" \
        "libpangoft2-1.0.so.0 libpangoft2-1.0-0" \
        "libharfbuzz-subset.so.0 libharfbuzz-subset0" \
        "libcairo.so.2 libcairo2"; do
        read -r lib package <<<"$entry"
        have_lib "$lib" || missing+=("$package")
    done
    [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
    ;;
browser)
    why="the browser tests need them"
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
    ;;
*)
    echo "usage: $PROG [reports|browser]" >&2
    exit 2
    ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$PROG: installing ${missing[*]} with apt-get" >&2
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends --no-upgrade \
            "${missing[@]}"
    } >&2 || { echo "$PROG: apt-get install ${missing[*]} failed" >&2; exit 1; }
    exit 0
fi
echo "$PROG: missing ${missing[*]} ($why). As root run:
    apt-get update && apt-get install -y ${missing[*]}" >&2
exit 1
