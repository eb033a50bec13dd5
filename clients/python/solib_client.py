#!/usr/bin/env python3
"""solib_client.py: the same C ABI from Python, through ctypes.

Usage: solib_client.py [--lib PATH] ACTION...
Actions, one output line each ("solib-py pid=N action=VERB key=value ..."):
  add:A,B   clip-set:TEXT   clip-get   status   wait   exit
The library is PATH, else $SOLIB_PATH, else libsolib.so found by the dynamic loader.
"""
import ctypes
import os
import sys


def load(path):
    lib = ctypes.CDLL(path)  # dlopen: runs the library's constructor
    lib.solib_add.argtypes = [ctypes.c_int64, ctypes.c_int64]
    lib.solib_add.restype = ctypes.c_int64
    for name in ("solib_private_calls", "solib_bss_calls", "solib_shared_calls"):
        getattr(lib, name).restype = ctypes.c_uint64
    lib.solib_clipboard_set.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.solib_clipboard_set.restype = ctypes.c_int
    lib.solib_clipboard_get.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.solib_clipboard_get.restype = ctypes.c_size_t
    lib.solib_clipboard_capacity.restype = ctypes.c_size_t
    lib.solib_status.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.solib_status.restype = ctypes.c_int
    lib.solib_shared_addr.restype = ctypes.c_void_p
    return lib


def say(verb, rest=""):
    print(f"solib-py pid={os.getpid()} action={verb} {rest}", flush=True)


def run(lib, action):
    verb, _, arg = action.partition(":")
    if verb == "add":
        a, b = (int(x) for x in arg.split(","))
        r = lib.solib_add(a, b)
        say("add", f"a={a} b={b} result={r} private_calls={lib.solib_private_calls()} "
                   f"shared_calls={lib.solib_shared_calls()}")
    elif verb == "clip-set":
        data = arg.encode()
        say("clip-set", f"rc={lib.solib_clipboard_set(data, len(data))} len={len(data)}")
    elif verb == "clip-get":
        cap = lib.solib_clipboard_capacity()
        buf = ctypes.create_string_buffer(cap)
        n = lib.solib_clipboard_get(buf, cap)
        say("clip-get", f"len={n} text={buf.raw[:min(n, cap)].decode(errors='replace')}")
    elif verb == "status":
        reason = ctypes.create_string_buffer(512)
        shared = lib.solib_status(reason, 512)
        say("status", f"shared={shared} reason={reason.value.decode(errors='replace')}")
    elif verb == "wait":
        say("wait", "waiting for a line on stdin")
        sys.stdin.readline()
    elif verb == "exit":
        say("exit")
        return False
    else:
        sys.exit(f"solib_client.py: unknown action {action!r}")
    return True


def main(argv):
    path = os.environ.get("SOLIB_PATH", "libsolib.so")
    if len(argv) >= 2 and argv[0] == "--lib":
        path, argv = argv[1], argv[2:]
    lib = load(path)
    for action in argv:
        if not run(lib, action):
            break


if __name__ == "__main__":
    main(sys.argv[1:])
