#!/usr/bin/env python3
"""Runs on the build host: writes a directory tree as a "newc" cpio archive
(the format the Linux kernel unpacks as an initramfs), without cpio(1) and
without root.

    newc.py ROOT OUT [--char PATH:MAJOR:MINOR:MODE]...

OUT is the uncompressed archive ('-' for stdout). Every entry is owned by
root (uid 0, gid 0) whoever runs this, with the permission bits it has in
ROOT and one fixed time (SOURCE_DATE_EPOCH, else 0), in sorted order with
directories before what they hold: the same tree gives the same bytes.
--char adds a character device node (e.g. dev/console:5:1:0600) that ROOT
cannot hold without root; its directory must be in ROOT.

The format (the kernel's Documentation/driver-api/early-userspace/
buffer-format.rst): per entry a header of "070701" and 13 eight-digit hex
fields (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
rdevmajor, rdevminor, namesize with its NUL, check), the name and its NUL
padded to a multiple of 4, then the data padded to a multiple of 4; the
entry named TRAILER!!! ends the archive.
"""
import os
import stat
import sys


class NewcWriter:
    def __init__(self, out, mtime):
        self.out = out
        self.mtime = mtime
        self.ino = 0
        self.offset = 0

    def _write(self, data):
        self.out.write(data)
        self.offset += len(data)

    def _pad(self):
        if self.offset % 4:
            self._write(b"\0" * (4 - self.offset % 4))

    def entry(self, name, mode, data=b"", nlink=1, rdev=(0, 0)):
        self.ino += 1
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, self.mtime, len(data), 0, 0,
                  rdev[0], rdev[1], len(encoded), 0]
        self._write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._write(encoded)
        self._pad()
        self._write(data)
        self._pad()

    def trailer(self):
        self.entry("TRAILER!!!", 0, nlink=1)
        # Whole 512-byte blocks, as cpio(1) writes them.
        if self.offset % 512:
            self._write(b"\0" * (512 - self.offset % 512))


def parse_char(spec):
    try:
        path, major, minor, mode = spec.split(":")
        return path.strip("/"), int(major), int(minor), int(mode, 8)
    except ValueError:
        sys.exit(f"newc.py: --char wants PATH:MAJOR:MINOR:MODE (octal), not {spec!r}")


def tree(root):
    """Paths under root, relative, sorted, each directory before its contents."""
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        relative = os.path.relpath(directory, root)
        if relative != ".":
            yield relative
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            yield os.path.normpath(os.path.join(relative, name))


def main(argv):
    args, chars = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--char" and i + 1 < len(argv):
            chars.append(parse_char(argv[i + 1]))
            i += 2
        elif argv[i].startswith("--char="):
            chars.append(parse_char(argv[i][len("--char="):]))
            i += 1
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    root, out_path = args
    if not os.path.isdir(root):
        sys.exit(f"newc.py: {root} is not a directory")
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    out = sys.stdout.buffer if out_path == "-" else open(out_path, "wb")
    writer = NewcWriter(out, mtime)
    pending = sorted(chars)
    for relative in tree(root):
        path = os.path.join(root, relative)
        info = os.lstat(path)
        perm = stat.S_IMODE(info.st_mode)
        if stat.S_ISLNK(info.st_mode):
            writer.entry(relative, stat.S_IFLNK | 0o777, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            writer.entry(relative, stat.S_IFDIR | perm, nlink=2)
            # Device nodes go right after their directory.
            for node in [c for c in pending if os.path.dirname(c[0]) == relative]:
                writer.entry(node[0], stat.S_IFCHR | node[3], rdev=(node[1], node[2]))
                pending.remove(node)
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as f:
                writer.entry(relative, stat.S_IFREG | perm, f.read())
        else:
            sys.exit(f"newc.py: {path}: only files, directories and symlinks can go in")
    for node in list(pending):
        if os.path.dirname(node[0]) == "":
            writer.entry(node[0], stat.S_IFCHR | node[3], rdev=(node[1], node[2]))
            pending.remove(node)
    if pending:
        sys.exit(f"newc.py: no directory in {root} for {', '.join(c[0] for c in pending)}")
    writer.trailer()
    if out is not sys.stdout.buffer:
        out.close()


if __name__ == "__main__":
    main(sys.argv[1:])
