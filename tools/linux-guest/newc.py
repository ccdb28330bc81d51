# Writes a gzip-compressed newc cpio archive (the initramfs format Linux
# reads) of a directory: newc.py ROOT OUT.cpio.gz. No cpio on the machine.
import os, sys, gzip, stat
root, out = sys.argv[1], sys.argv[2]
buf = bytearray(); ino = [1]
def add(name, mode, data=b'', nlink=1):
    h = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
        ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
    ino[0] += 1
    buf.extend(h.encode()); buf.extend(name.encode()+b'\0')
    while len(buf) % 4: buf.append(0)
    buf.extend(data)
    while len(buf) % 4: buf.append(0)
for d, dirs, files in os.walk(root):
    rel = os.path.relpath(d, root)
    if rel != '.': add(rel, 0o40755, nlink=2)
    for f in files:
        p = os.path.join(d, f); r = os.path.relpath(p, root); st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode): add(r, 0o120777, os.readlink(p).encode())
        else: add(r, st.st_mode, open(p,'rb').read())
add("TRAILER!!!", 0)
open(out,'wb').write(gzip.compress(bytes(buf)))
