#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks: libcurl's headers (OpenSSL's are there),
# and Python's joserfc for the interoperability tests (a second JOSE implementation that
# checks gatewayd's signatures and makes ones it must accept). Idempotent and quiet when
# nothing is missing.
#
# libcurl 8.14.1 or later where it can be had: Debian 12's own 7.88 resets every HTTP/2
# stream it has read to the end, which servers with rapid-reset protection answer by
# closing the connection (docs/transport.md). On Debian 12 (bookworm) it comes from
# bookworm-backports; elsewhere the distribution's libcurl is used as it is (with 7.88 or
# older, endpoints stay on HTTP/1.1 unless configured otherwise).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
APT=(-o DPkg::Lock::Timeout=600)
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v python3 >/dev/null || need+=(python3)
# pip only where joserfc is missing (a Debian python3 often comes without it).
if ! { command -v python3 >/dev/null && python3 -c 'import joserfc' 2>/dev/null; }; then
    { command -v python3 >/dev/null && python3 -c 'import pip' 2>/dev/null; } || need+=(python3-pip)
fi
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)

have_headers=no
{ [ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ]; } && have_headers=yes
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
curl_dev=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
backports=no
if [ "$codename" = bookworm ] && { [ -z "$curl_dev" ] || ! dpkg --compare-versions "$curl_dev" ge 8.14.1; }; then
    backports=yes
fi
[ "$have_headers" = yes ] || [ "$backports" = yes ] || need+=(libcurl4-openssl-dev)

if [ ${#need[@]} -gt 0 ] || [ "$backports" = yes ]; then
if [ "$backports" = yes ]; then
    # Our own source file (written once); apt tolerates the same source listed elsewhere.
    list=/etc/apt/sources.list.d/gateway-bookworm-backports.list
    if [ ! -f "$list" ]; then
        echo "install-deps: adding bookworm-backports (libcurl 8.14) as $list"
        echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
    fi
fi
$SUDO apt-get "${APT[@]}" update -qq
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${APT[@]}" install -y -qq "${need[@]}" >/dev/null
fi
if [ "$backports" = yes ]; then
    echo "install-deps: installing libcurl4-openssl-dev from bookworm-backports"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get "${APT[@]}" install -y -qq -t bookworm-backports libcurl4-openssl-dev >/dev/null
fi
fi

# joserfc from PyPI (the interoperability tests and the demo's checks run python3).
if ! python3 -c 'import joserfc' 2>/dev/null; then
    echo "install-deps: installing joserfc (PyPI)"
    python3 -m pip install --quiet joserfc 2>/dev/null \
        || python3 -m pip install --quiet --user joserfc 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages joserfc
fi
