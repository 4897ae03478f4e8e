#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks: libcurl's headers (OpenSSL's are there).
# Idempotent and quiet when nothing is missing.
#
# libcurl 8.14.1 or later: Debian 12's own 7.88 resets every HTTP/2 stream it has read to
# the end, which servers with rapid-reset protection answer by closing the connection
# (docs/transport.md). On Debian 12 (bookworm) it comes from bookworm-backports.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
APT=(-o DPkg::Lock::Timeout=600)
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
command -v sqlite3 >/dev/null || need+=(sqlite3)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)

curl_dev=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
curl_ok=no
if [ -n "$curl_dev" ] && dpkg --compare-versions "$curl_dev" ge 8.14.1; then curl_ok=yes; fi
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
curl_from=()
if [ "$curl_ok" = no ]; then
    if [ "$codename" = bookworm ]; then
        if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            echo "install-deps: adding bookworm-backports (libcurl 8.14)"
            echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
        fi
        curl_from=(-t bookworm-backports)
    fi
fi

if [ ${#need[@]} -gt 0 ] || [ "$curl_ok" = no ]; then
    $SUDO apt-get "${APT[@]}" update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${APT[@]}" install -y -qq "${need[@]}" >/dev/null
fi
if [ "$curl_ok" = no ]; then
    echo "install-deps: installing libcurl4-openssl-dev ${curl_from[*]:-}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${APT[@]}" install -y -qq "${curl_from[@]}" libcurl4-openssl-dev >/dev/null
    v=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev)
    if ! dpkg --compare-versions "$v" ge 8.14.1; then
        echo "install-deps: libcurl4-openssl-dev $v is older than 8.14.1: endpoints will stay on HTTP/1.1 unless configured (docs/transport.md)" >&2
    fi
fi
