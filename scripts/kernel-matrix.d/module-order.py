#!/usr/bin/env python3
"""module-order.py MODDIR OUTDIR NAME...: copies the modules NAMES need into
OUTDIR, decompressed (busybox's insmod reads plain .ko files), and prints
their file names in load order, each after the modules it depends on (from
each module's `depends=`: the kernel packages ship no modules.dep)."""
import lzma
import os
import re
import sys

root, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
by_name = {}
for dirpath, _, files in os.walk(root):
    for f in files:
        for suffix in (".ko", ".ko.xz"):
            if f.endswith(suffix):
                by_name[f[: -len(suffix)].replace("-", "_")] = os.path.join(dirpath, f)


def data(name):
    path = by_name[name]
    raw = open(path, "rb").read()
    return lzma.decompress(raw) if path.endswith(".xz") else raw


def depends(blob):
    m = re.search(rb"depends=([^\x00]*)\x00", blob)
    return [d.replace("-", "_") for d in m.group(1).decode().split(",") if d] if m else []


order = []


def add(name):
    if name not in by_name or f"{name}.ko" in order:
        return
    blob = data(name)
    for dep in depends(blob):
        add(dep)
    with open(os.path.join(out, f"{name}.ko"), "wb") as f:
        f.write(blob)
    order.append(f"{name}.ko")


for n in names:
    add(n)
print(" ".join(order))
