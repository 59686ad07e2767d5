#!/usr/bin/env python3
"""The Python peers of scripts/bench.mjs: what a Python user would write for the same work.

    peers.py b1 <node> <child.mjs> <chunk> <total> <pipe-size>
        os.pipe(); the same Node writer child as the Node cases writes <total> stamped bytes to
        it; this process reads them with readinto() into one 1 MiB buffer and checks each read.
    peers.py b2 <count> <size>        os.write / os.read of <size> bytes, <count> times, one pipe
    peers.py b3 <count> <size> <warmup>  multiprocessing.Pipe ping-pong with an echoing child
    peers.py b5 <count>               os.pipe() + os.close() x 2

Prints one line of JSON: { ok, seconds, ..., cpuSeconds, maxRssKiB }. Standard library only.
The stamp format is the one in scripts/bench/child.mjs.
"""
import json
import mmap
import multiprocessing
import os
import struct
import subprocess
import sys
import time

BLOCK = 4096
MAGIC = 0x50495057
READ_BUF = 1 << 20


def max_rss_kib():
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss
    except ImportError:  # Windows
        return None


def out(**fields):
    fields.setdefault("maxRssKiB", max_rss_kib())
    print(json.dumps(fields), flush=True)
    return 0 if fields.get("ok") else 1


def b1(node, child, chunk, total, pipe_size):
    r, w = os.pipe()
    if pipe_size > 0 and sys.platform.startswith("linux"):
        import fcntl

        try:  # the same best-effort resize as createPipe({ size }) and the C peer
            fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), pipe_size)
        except OSError:
            pass
    proc = subprocess.Popen([node, child, "writer", "1", str(chunk), str(total)], stdout=w, stdin=subprocess.DEVNULL)
    os.close(w)
    # Page-aligned (an anonymous mmap), as the C peer's: a bytearray this big is a glibc mmap whose
    # data sits 16 bytes past a page boundary, where a pipe read runs 2-3x slower on AMD Zen 3
    # (4 KiB aliasing in the kernel's copy).
    buf = mmap.mmap(-1, READ_BUF)
    view = memoryview(buf)
    reader = open(r, "rb", buffering=0)  # a raw FileIO: readinto() is one read(2), no copy
    pos = first = bad = 0
    t0 = c0 = 0.0
    unpack = struct.unpack_from
    while True:
        n = reader.readinto(buf)
        if n == 0:
            break
        if pos == 0:
            t0 = time.perf_counter()
            c0 = time.process_time()
            first = n
        a = (pos + BLOCK - 1) // BLOCK * BLOCK
        if a + 8 <= pos + n:
            idx, magic = unpack("<II", view, a - pos)
            if idx != (a // BLOCK) & 0xFFFFFFFF or magic != MAGIC:
                bad += 1
        pos += n
    t1 = time.perf_counter()
    c1 = time.process_time()
    reader.close()
    code = proc.wait()
    ok = pos == total and bad == 0 and code == 0
    return out(ok=ok, bytes=pos, measuredBytes=pos - first, seconds=t1 - t0, cpuSeconds=c1 - c0,
               **({} if ok else {"error": f"bytes {pos}/{total}, bad stamps {bad}, child exit {code}"}))


def b2(count, size):
    r, w = os.pipe()
    msg = bytearray(b"m" * size)
    pack_into = struct.pack_into
    unpack = struct.unpack_from
    bad = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    for i in range(count):
        pack_into("<I", msg, 0, i & 0xFFFFFFFF)
        os.write(w, msg)
        got = os.read(r, size)
        while len(got) < size:
            got += os.read(r, size - len(got))
        if unpack("<I", got, 0)[0] != i & 0xFFFFFFFF:
            bad += 1
    t1 = time.perf_counter()
    c1 = time.process_time()
    os.close(r)
    os.close(w)
    return out(ok=bad == 0, count=count, seconds=t1 - t0, cpuSeconds=c1 - c0)


def _echo(conn, other):
    # A forked child inherits the parent's end too: close it, or EOF never comes.
    if other is not None:
        other.close()
    try:
        while True:
            conn.send_bytes(conn.recv_bytes())
    except EOFError:
        pass


def b3(count, size, warmup):
    parent, child = multiprocessing.Pipe()
    fork = multiprocessing.get_start_method() == "fork"
    proc = multiprocessing.Process(target=_echo, args=(child, parent if fork else None))
    proc.start()
    child.close()
    msg = bytearray(b"p" * size)
    bad = 0
    t0 = c0 = 0.0
    for i in range(warmup + count):
        if i == warmup:
            t0 = time.perf_counter()
            c0 = time.process_time()
        struct.pack_into("<I", msg, 0, i)
        parent.send_bytes(msg)
        back = parent.recv_bytes()
        if len(back) != size or struct.unpack_from("<I", back, 0)[0] != i:
            bad += 1
    t1 = time.perf_counter()
    c1 = time.process_time()
    parent.close()
    proc.join()
    ok = bad == 0 and proc.exitcode == 0
    return out(ok=ok, count=count, seconds=t1 - t0, cpuSeconds=c1 - c0,
               **({} if ok else {"error": f"bad echoes {bad}, child exit {proc.exitcode}"}))


def b5(count):
    t0 = time.perf_counter()
    c0 = time.process_time()
    made = 0
    for _ in range(count):
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        made += 1
    t1 = time.perf_counter()
    c1 = time.process_time()
    return out(ok=made == count, count=made, seconds=t1 - t0, cpuSeconds=c1 - c0)


def main(argv):
    case = argv[1] if len(argv) > 1 else ""
    if case == "b1":
        return b1(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    if case == "b2":
        return b2(int(argv[2]), int(argv[3]))
    if case == "b3":
        return b3(int(argv[2]), int(argv[3]), int(argv[4]))
    if case == "b5":
        return b5(int(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
