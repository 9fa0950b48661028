#!/usr/bin/env bash
# Build a small sample root filesystem from this machine's own files (no Docker
# engine, no network): a shell entrypoint that archives and hashes files with
# tar, gzip and sha256sum, plus each program's shared libraries as this host's
# loader resolves them, and the /etc files the loader and NSS read.
#
#   scripts/make-sample-rootfs.sh DIR
set -euo pipefail
dest=${1:?usage: make-sample-rootfs.sh DIR}
rm -rf "$dest"
mkdir -p "$dest"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,tmp,data}
# A merged-/usr layout, as Debian 12 has.
for d in bin sbin lib lib64; do ln -s "usr/$d" "$dest/$d"; done
progs=(/bin/sh /bin/tar /usr/bin/gzip /usr/bin/sha256sum /bin/cat /bin/ls /usr/bin/env)
copy() { # copy a host file into the same folder under $dest, symlinks as symlinks, and their targets
  local f=$1 d
  d=$(readlink -f "$(dirname "$f")")
  mkdir -p "$dest$d"
  cp -a "$f" "$dest$d/"
  if [ -L "$f" ]; then copy "$(readlink -f "$f")"; fi
}
for p in "${progs[@]}"; do
  copy "$p"
  # The host's own loader lists the libraries of the host's own binaries.
  ldd "$p" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do copy "$lib"; done
done
for f in /etc/nsswitch.conf /etc/ld.so.conf; do [ -e "$f" ] && cp "$f" "$dest$f"; done
[ -d /etc/ld.so.conf.d ] && cp -r /etc/ld.so.conf.d "$dest/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$dest/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dest/etc/group"
printf 'hello from the confine sample\n' >"$dest/data/hello.txt"
cat >"$dest/entrypoint.sh" <<'SH'
#!/bin/sh
set -e
cd /tmp
tar -czf data.tar.gz -C / data
sha256sum data.tar.gz
ls -l /data | cat
exec env "$@"
SH
chmod 755 "$dest/entrypoint.sh"
echo "$dest"
