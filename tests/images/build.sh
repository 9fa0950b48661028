#!/usr/bin/env bash
# Build a test image root filesystem with debootstrap (Debian 12 minbase plus
# packages) and cache it as a tarball under .cache/images/. With --import, also
# `docker import` it as confine-test/NAME:latest with its entrypoint and cmd.
#
#   tests/images/build.sh [--import] NAME
#
# NAME is one of the images defined below. The debian12-* images need root and
# debootstrap; busybox-httpd copies the host's static /bin/busybox
# (busybox-static); musl-httpd compiles a small HTTP server with musl-gcc
# (musl-tools), dynamic against musl's libc; rust-httpd compiles a threaded
# HTTP server with the host's rustc (Rust std, dynamic against glibc) and
# copies its glibc libraries from the host; debian12-python runs
# `python3 -m http.server` (an interpreter and its extension modules). The cached tarball is reused when
# present, so only the first run is slow.
#
#   tests/images/build.sh --all     build and import every image
set -euo pipefail
cd "$(dirname "$0")/../.."
import=0
if [ "${1:-}" = "--import" ]; then import=1; shift; fi
name=${1:?usage: build.sh [--import] NAME | --all}
if [ "$name" = "--all" ]; then
  for n in debian12-nginx debian12-redis debian12-node-exporter busybox-httpd musl-httpd rust-httpd debian12-python; do
    "$0" --import "$n"
  done
  exit 0
fi
cache=.cache/images
mkdir -p "$cache"

pkgs= ; entry= ; cmd= ; setup= ; workdir=/
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
    workdir=/data
    setup=redis ;;
  debian12-node-exporter)
    # A Go server from a Debian package (cgo, dynamic against glibc).
    pkgs=prometheus-node-exporter
    entry='["/docker-entrypoint.sh"]'
    cmd='["prometheus-node-exporter","--web.listen-address=:9100"]'
    setup=node-exporter ;;
  busybox-httpd)
    pkgs=
    entry='["/docker-entrypoint.sh"]'
    cmd='["busybox","httpd","-f","-p","80","-h","/www"]'
    setup=busybox ;;
  musl-httpd)
    pkgs=
    entry='["/docker-entrypoint.sh"]'
    cmd='["musl-httpd","8080"]'
    setup=musl ;;
  rust-httpd)
    pkgs=
    entry='["/docker-entrypoint.sh"]'
    cmd='["rust-httpd","8080"]'
    setup=rust ;;
  debian12-python)
    pkgs=python3
    entry='["/docker-entrypoint.sh"]'
    cmd='["python3","-m","http.server","8000","--directory","/srv"]'
    setup=python ;;
  *) echo "unknown image $name" >&2; exit 2 ;;
esac

tarball=$cache/$name.tar
if [ ! -s "$tarball" ]; then
  work=$(mktemp -d "$cache/$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  if [ -n "$pkgs" ]; then
    debootstrap --variant=minbase --include="$pkgs" bookworm "$work/root" http://deb.debian.org/debian >"$work/log" 2>&1 \
      || { tail -20 "$work/log" >&2; exit 1; }
  else
    # A minimal root: the static busybox as /bin/sh and its applets.
    mkdir -p "$work/root"/{bin,etc,tmp,www,lib,usr/local/bin,proc,sys,dev}
    chmod 1777 "$work/root/tmp"
    cp /bin/busybox "$work/root/bin/busybox"
    for a in sh mkdir echo cat ls id test [; do ln -s busybox "$work/root/bin/$a"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$work/root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/root/etc/group"
  fi
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
      mkdir -p "$work/root/data"
      chroot "$work/root" chown redis:redis /data
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
  find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
fi
exec "$@"
SH
      ;;
    node-exporter)
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
# First argument an option: run the exporter with it (as official images do).
if [ "${1#-}" != "$1" ]; then
  set -- prometheus-node-exporter "$@"
fi
exec "$@"
SH
      ;;
    busybox)
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
mkdir -p /www
if [ ! -f /www/index.html ]; then
  echo "hello from busybox httpd" >/www/index.html
fi
exec "$@"
SH
      ;;
    musl)
      cat >"$work/musl-httpd.c" <<'C'
/* A tiny HTTP/1.0 server: one response to every request, one client at a time. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
  if (listen(s, 16) < 0) { perror("listen"); return 1; }
  printf("musl-httpd listening on %d\n", port);
  fflush(stdout);
  while (!stop) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    char buf[2048];
    ssize_t n = read(c, buf, sizeof buf - 1);
    if (n > 0) {
      buf[n] = 0;
      char *body = malloc(64);
      if (body) {
        int len = snprintf(body, 64, "hello from musl\n");
        dprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len, body);
        free(body);
      }
    }
    close(c);
  }
  return 0;
}
C
      musl-gcc -O2 -o "$work/root/usr/local/bin/musl-httpd" "$work/musl-httpd.c"
      cp -L /lib/ld-musl-x86_64.so.1 "$work/root/lib/ld-musl-x86_64.so.1"
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
if [ "$1" = "musl-httpd" ] && [ -z "$2" ]; then
  set -- musl-httpd 8080
fi
exec "$@"
SH
      ;;
    rust)
      cat >"$work/rust-httpd.rs" <<'RS'
// A tiny threaded HTTP/1.0 server on Rust std: one thread per client.
use std::io::{Read, Write};
fn main() {
    let port = std::env::args().nth(1).unwrap_or_else(|| "8080".into());
    let l = std::net::TcpListener::bind(format!("0.0.0.0:{port}")).expect("bind");
    println!("rust-httpd listening on {port}");
    for c in l.incoming().flatten() {
        std::thread::spawn(move || {
            let mut c = c;
            let mut buf = [0u8; 2048];
            if c.read(&mut buf).unwrap_or(0) > 0 {
                let body = "hello from rust\n";
                let _ = write!(c, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            }
        });
    }
}
RS
      rustc -O --edition 2021 -o "$work/root/usr/local/bin/rust-httpd" "$work/rust-httpd.rs"
      mkdir -p "$work/root/lib64" "$work/root/lib/x86_64-linux-gnu"
      cp -L /lib64/ld-linux-x86-64.so.2 "$work/root/lib64/"
      for l in libc.so.6 libgcc_s.so.1 libm.so.6; do
        cp -L "/lib/x86_64-linux-gnu/$l" "$work/root/lib/x86_64-linux-gnu/"
      done
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
exec "$@"
SH
      ;;
    python)
      mkdir -p "$work/root/srv"
      echo "hello from python" >"$work/root/srv/index.txt"
      cat >"$work/root/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
cd /srv
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
  # Import again only when the tarball or this script changed (no dangling copies).
  stamp="$(stat -c %s-%Y "$tarball")-$(sha256sum "$0" | cut -c1-16)"
  have=$(docker image inspect -f '{{ index .Config.Labels "confine.stamp" }}' "confine-test/$name:latest" 2>/dev/null || true)
  if [ "$have" = "$stamp" ]; then echo "$tarball"; exit 0; fi
  docker import \
    --change "LABEL confine.stamp=$stamp" \
    --change "ENTRYPOINT $entry" --change "CMD $cmd" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "WORKDIR $workdir" \
    "$tarball" "confine-test/$name:latest" >/dev/null
fi
echo "$tarball"
