#!/usr/bin/env bash
# The system libraries and fonts the reports need: WeasyPrint (PDF) loads Pango, PangoFT2 and
# HarfBuzz's subsetter, CairoSVG (PNG) loads Cairo, and both draw with the DejaVu fonts installed
# here (reports use no web font).
#
# Usage: scripts/system-libs.sh   exit 0 when everything is there; otherwise install the missing
#                                 Debian packages with apt-get when root, else say what to install.
set -euo pipefail

PROG=${0##*/}
# library soname -> Debian package
LIBS=(
    "libpango-1.0.so.0 libpango-1.0-0"
    "libpangoft2-1.0.so.0 libpangoft2-1.0-0"
    "libharfbuzz-subset.so.0 libharfbuzz-subset0"
    "libcairo.so.2 libcairo2"
)
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
FONT_PACKAGE=fonts-dejavu-core

have_lib() {
    local ldconfig
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    "$ldconfig" -p 2>/dev/null | grep -q "[[:space:]]$1 "
}

missing=()
for entry in "${LIBS[@]}"; do
    read -r lib package <<<"$entry"
    have_lib "$lib" || missing+=("$package")
done
[ -e "$FONT" ] || missing+=("$FONT_PACKAGE")
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
echo "$PROG: missing ${missing[*]} (PDF and PNG reports need them). As root run:
    apt-get update && apt-get install -y ${missing[*]}" >&2
exit 1
