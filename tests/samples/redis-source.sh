#!/usr/bin/env bash
# Build redis-server from Debian 12's own source package, without TLS and
# without libsystemd: redis's closure before 6.0 added both (2020), which the
# published sysfilter figure most likely had. Into
# .cache/samples/redis-src/ (reused when present):
#
#   debian-notls/redis-server  Debian's patches and build flags (system
#                              jemalloc, liblzf, libatomic, hardening), with
#                              BUILD_TLS=no USE_SYSTEMD=no instead of yes
#   upstream/redis-server      the pristine upstream tarball's `make`
#                              (bundled jemalloc, linked statically) with
#                              USE_SYSTEMD=no (it links libsystemd whenever
#                              its development files are present)
#
# Both are stripped, as Debian ships its binaries. The source comes through
# apt (signature-checked against debian-archive-keyring) from a private
# deb-src list, so the machine's apt configuration is left alone.
#
#   tests/samples/redis-source.sh
#
# Needs: dpkg-dev, build-essential, libjemalloc-dev, liblzf-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$PWD/.cache/samples/redis-src
if [ -x "$out/debian-notls/redis-server" ] && [ -x "$out/upstream/redis-server" ]; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$work/sources.list" <<EOF
deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$keyring] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security bookworm-security main
EOF
apt=(apt-get -q -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
  -o APT::Sandbox::User=root)
"${apt[@]}" update >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; exit 1; }
(cd "$work" && "${apt[@]}" source redis >>"$work/apt.log" 2>&1) || { tail -20 "$work/apt.log"; exit 1; }
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'redis-*' | head -1)
orig=$(find "$work" -mindepth 1 -maxdepth 1 -name 'redis_*.orig.tar.gz' | head -1)
[ -n "$src" ] && [ -n "$orig" ] || { echo "redis-source: apt-get source gave no source tree"; exit 1; }
echo "redis-source: building $(basename "$src") ($(basename "$orig"))"

# Debian's flags exactly as debian/rules sets them, but BUILD_TLS and
# USE_SYSTEMD off.
(
  cd "$src"
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  export DEB_CFLAGS_MAINT_APPEND=-I/usr/include/liblzf
  export DEB_LDFLAGS_MAINT_APPEND="-Wl,-no-as-needed -ldl -latomic -llzf"
  eval "$(dpkg-buildflags --export=sh)"
  make -j"$(nproc)" V=1 USE_SYSTEM_JEMALLOC=yes USE_JEMALLOC=yes USE_SYSTEMD=no BUILD_TLS=no
) >"$work/debian.log" 2>&1 || { tail -30 "$work/debian.log"; exit 1; }

# Upstream's makefile on the pristine tarball, libsystemd off.
mkdir "$work/up"
tar -C "$work/up" -xzf "$orig"
up=$(find "$work/up" -mindepth 1 -maxdepth 1 -type d | head -1)
(cd "$up" && make -j"$(nproc)" USE_SYSTEMD=no) >"$work/upstream.log" 2>&1 ||
  { tail -30 "$work/upstream.log"; exit 1; }

rm -rf "$out.tmp"
install -D -m755 "$src/src/redis-server" "$out.tmp/debian-notls/redis-server"
install -D -m755 "$up/src/redis-server" "$out.tmp/upstream/redis-server"
strip "$out.tmp/debian-notls/redis-server" "$out.tmp/upstream/redis-server"
find "$work" -maxdepth 1 -name 'redis_*.dsc' -printf '%f\n' | sed 's/\.dsc$//' >"$out.tmp/VERSION"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "redis-source: $out/{debian-notls,upstream}/redis-server"
