#!/usr/bin/python3
"""Writes the seed corpora of fuzz-conf, fuzz-dns and fuzz-ca.  Run by hand
when an input format changes; the output is committed.

  corpus/conf/  the annotated example configuration and small variants
  corpus/dns/   SRV answers as a DNS server sends them (compression,
                several records, a root target, a CNAME first)
  corpus/ca/    the real Windows CA certificate (tests/data) in the
                split-byte layout of fuzz-ca.c, with template lists
"""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..", "..")


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def name(n):
    out = b""
    for label in n.split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def srv_answer(prio, weight, port, target):
    rdata = struct.pack(">HHH", prio, weight, port) + name(target)
    return struct.pack(">HHHIH", 0xC00C, 33, 1, 600, len(rdata)) + rdata


def message(answers, qname="_ldap._tcp.dc._msdcs.corp.test"):
    hdr = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, len(answers), 0, 0)
    return hdr + name(qname) + struct.pack(">HH", 33, 1) + b"".join(answers)


def main():
    conf = open(os.path.join(TOP, "examples", "autoenroll.conf"), "rb").read()
    write("conf", "example.conf", conf)
    write("conf", "full.conf", b"[global]\ndomain = corp.test\nservers = dc1.corp.test, dc2\n"
          b"ldap_timeout = 3\ndns_timeout = 2\n[machine]\nkeytab = /etc/krb5.keytab\n"
          b"principal = WS1$@CORP.TEST\n[user]\nx-future = 1\n")
    write("conf", "bad.conf", b"[global\nldap_timeout = x\n= \n[unknown]\nk=v\r\n")

    write("dns", "two.bin", message([srv_answer(0, 100, 389, "dc1.corp.test"),
                                     srv_answer(10, 50, 389, "dc2.corp.test")]))
    write("dns", "root-target.bin", message([srv_answer(0, 0, 0, "")]))
    cname = struct.pack(">HHHIH", 0xC00C, 5, 1, 60, 4) + b"\x01a\xc0\x0c"
    write("dns", "cname-first.bin", message([cname, srv_answer(0, 0, 389, "dc1.corp.test")]))
    write("dns", "empty.bin", message([]))

    der = None
    for line in open(os.path.join(TOP, "tests", "data", "windows-enrollment-service.ldif")):
        if line.startswith("cACertificate:: "):
            der = base64.b64decode(line.split(":: ", 1)[1])
    tpls = b"User\0Machine\0WebServer\0DomainController"
    # fuzz-ca.c: first byte modulo size is the length of the template part.
    data = der + tpls
    write("ca", "windows-ca.bin", bytes([len(tpls) % (len(data) + 1)]) + data)
    write("ca", "truncated.bin", bytes([0]) + der[: len(der) // 2])
    write("ca", "pem.bin", bytes([0]) + b"-----BEGIN CERTIFICATE-----\nMIIF\n")


if __name__ == "__main__":
    main()
