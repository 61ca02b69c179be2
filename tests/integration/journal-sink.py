#!/usr/bin/python3
# journal-sink.py SOCKET OUT - a stand-in for journald's native socket:
# binds the AF_UNIX datagram socket SOCKET and appends each datagram to
# OUT as one JSON object per line (the fields of the native protocol,
# https://systemd.io/JOURNAL_NATIVE_PROTOCOL/, decoded independently of
# autoenroll's own code).  Exits when SOCKET is removed.
import json
import os
import socket
import struct
import sys


def parse(data):
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            if data[nl + 9 + n:nl + 10 + n] != b"\n":
                raise ValueError("binary field not terminated")
            i = nl + 10 + n
        fields[k.decode()] = v.decode("utf-8", "replace")
    return fields


def main():
    path, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    s.settimeout(0.5)
    with open(out, "a") as f:
        while os.path.exists(path):
            try:
                data = s.recv(1 << 20)
            except socket.timeout:
                continue
            try:
                f.write(json.dumps(parse(data)) + "\n")
            except (ValueError, struct.error) as e:
                f.write(json.dumps({"_bad": str(e)}) + "\n")
            f.flush()


main()
