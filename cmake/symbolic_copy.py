#!/usr/bin/python3
"""Copies a shared library and sets DF_SYMBOLIC in its dynamic section, so
that the dynamic loader resolves the library's own symbols inside itself
first (what linking it with -Bsymbolic would have done).

Why: Debian's libsentencepiece bundles protobuf-lite 3.14 and exports those
symbols, while LibTorch loads libprotobuf 3.21 into the same process. Without
this, one library's protobuf calls land in the other's copy and the program
aborts at start-up ("compiled against version 3.14.0 ... installed 3.21.12").

Usage: symbolic_copy.py SOURCE.so DEST.so"""
import os
import shutil
import struct
import sys

PT_DYNAMIC, DT_NULL, DT_FLAGS, DF_SYMBOLIC = 2, 0, 30, 0x2


def unchanged(path, data):
    """True when `path` already holds exactly `data`."""
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, dest = sys.argv[1], sys.argv[2]
    with open(os.path.realpath(source), "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit("symbolic_copy: {} is not a little-endian ELF64 file".format(source))
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    patched = False
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type != PT_DYNAMIC:
            continue
        for off in range(p_offset, p_offset + p_filesz, 16):
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == DT_NULL:
                break
            if tag == DT_FLAGS:
                struct.pack_into("<qQ", data, off, tag, val | DF_SYMBOLIC)
                patched = True
                break
    if not patched:
        sys.exit("symbolic_copy: {} has no DT_FLAGS entry to patch".format(source))
    if unchanged(dest, data):
        return  # same bytes: keep the file and its mtime, so nothing relinks at each configure
    os.makedirs(os.path.dirname(os.path.abspath(dest)) or ".", exist_ok=True)
    tmp = dest + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    shutil.copymode(os.path.realpath(source), tmp)
    os.replace(tmp, dest)


if __name__ == "__main__":
    main()
