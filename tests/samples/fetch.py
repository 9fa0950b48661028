#!/usr/bin/env python3
"""Fetch real binaries the analysis tests trace but this machine cannot build,
into .cache/samples/ (reused when present). Standard library only.

    tests/samples/fetch.py

- ruff: a static-pie Rust program on musl, from its musllinux wheel on PyPI
  (rustup's musl target cannot be downloaded here, and Debian packages no
  musl std). Pinned by version and checked against PyPI's sha256.
"""
import hashlib, io, json, os, sys, urllib.request, zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, ".cache", "samples")
RUFF = "0.17.6"
TAG = "py3-none-musllinux_1_2_x86_64"


def fetch_ruff():
    dest = os.path.join(OUT, "ruff")
    if os.path.exists(dest):
        return
    # The simple index (PEP 691 JSON), which every PyPI mirror serves.
    req = urllib.request.Request(
        "https://pypi.org/simple/ruff/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    meta = json.load(urllib.request.urlopen(req, timeout=60))
    want = f"ruff-{RUFF}-{TAG}.whl"
    entry = next(u for u in meta["files"] if u["filename"] == want)
    blob = urllib.request.urlopen(entry["url"], timeout=300).read()
    if hashlib.sha256(blob).hexdigest() != entry["hashes"]["sha256"]:
        sys.exit(f"fetch: {want}: sha256 mismatch")
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        data = z.read(f"ruff-{RUFF}.data/scripts/ruff")
    os.makedirs(OUT, exist_ok=True)
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)
    print(f"fetch: {dest} ({len(data)} bytes)")


if __name__ == "__main__":
    fetch_ruff()
