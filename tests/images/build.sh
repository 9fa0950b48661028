#!/usr/bin/env bash
# Build a test image root filesystem with debootstrap (Debian 12 minbase plus
# packages) and cache it as a tarball under .cache/images/. With --import, also
# `docker import` it as confine-test/NAME:latest with its entrypoint and cmd.
#
#   tests/images/build.sh [--import] NAME
#
# NAME is one of the images defined below. Needs root and debootstrap; the
# cached tarball is reused when present, so only the first run is slow.
set -euo pipefail
cd "$(dirname "$0")/../.."
import=0
if [ "${1:-}" = "--import" ]; then import=1; shift; fi
name=${1:?usage: build.sh [--import] NAME}
cache=.cache/images
mkdir -p "$cache"

pkgs= ; entry= ; cmd= ; setup=
case "$name" in
  debian12-nginx)
    pkgs=nginx,curl
    entry='["/docker-entrypoint.sh"]'
    cmd='["nginx","-g","daemon off;"]'
    setup=nginx ;;
  debian12-redis)
    pkgs=redis-server
    entry='["/docker-entrypoint.sh"]'
    cmd='["redis-server","--protected-mode","no"]'
    setup=redis ;;
  *) echo "unknown image $name" >&2; exit 2 ;;
esac

tarball=$cache/$name.tar
if [ ! -s "$tarball" ]; then
  work=$(mktemp -d "$cache/$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase --include="$pkgs" bookworm "$work/root" http://deb.debian.org/debian >"$work/log" 2>&1 \
    || { tail -20 "$work/log" >&2; exit 1; }
  # An entrypoint script in the style of the official images.
  case "$setup" in
    nginx)
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ -d /docker-entrypoint.d ]; then
  for f in /docker-entrypoint.d/*.sh; do [ -x "$f" ] && "$f"; done
fi
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log
exec "$@"
SH
      ;;
    redis)
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
  find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
fi
exec "$@"
SH
      ;;
  esac
  chmod 755 "$work/root/docker-entrypoint.sh"
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
  tar --numeric-owner -C "$work/root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

if [ "$import" = 1 ]; then
  docker import \
    --change "ENTRYPOINT $entry" --change "CMD $cmd" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "confine-test/$name:latest" >/dev/null
fi
echo "$tarball"
