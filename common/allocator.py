"""The C allocator's settings for Strata's long-running services (glibc only).

A service streams large bodies through ``bytes`` chunks of up to a few hundred
KiB: uvloop's reads, aiohttp's buffers, a PUT's queues, a large object's next
segment read ahead while the current one is sent. Those blocks come from
glibc's ``malloc``, whose defaults suit a short program, not a server that
frees and takes back the same few MiB hundreds of times a second: once the free
space at the top of the heap passes the trim threshold (128 KiB, raised by its
dynamic rule to twice the largest block it has unmapped), ``free`` gives it back
to the kernel, and the next burst of reads takes it again, page by page, each
page a fault the kernel must zero. Measured on the proxy: 2,700 to 8,000 minor
faults per 64 MiB GET (a multipart object, or any GET after large PUTs had
moved the thresholds), a quarter to a third of the proxy's CPU for that GET.

With the two settings below a service keeps up to :data:`TRIM_THRESHOLD` of
free heap for the next burst and never maps a block of a streaming size on its
own; a steady stream then reuses the same pages (no faults at all after the
first). The cost is memory: after a burst a process may hold that much more
than it uses, per arena (glibc gives threads that allocate arenas of their
own; a node's workers mostly make system calls and allocate little). Setting
either value turns off glibc's dynamic thresholds, which is why both are set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

# Blocks up to this size come from the heap and are reused; larger ones (rare in
# a service: a whole body held at once) are mapped and unmapped on their own.
MMAP_THRESHOLD = 4 << 20
# Free space at the top of the heap (or of a thread's arena) given back to the
# kernel only past this size.
TRIM_THRESHOLD = 32 << 20


def tune_allocator() -> bool:
    """Set :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` in glibc's malloc.

    True when both took effect; False (nothing changed) on a C library other
    than glibc, whose allocator has neither setting."""
    if platform.libc_ver()[0] != "glibc":
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
              and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    if not ok:
        log.warning("glibc refused the allocator settings; large bodies cost page faults")
    return ok
