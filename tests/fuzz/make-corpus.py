#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets from the real template
fixture (tests/data/windows-default-templates.ldif).  Run by hand when the
fixture or the input format of fuzz-template.c changes; the output is
committed.

  corpus/secdesc/   the 33 real nTSecurityDescriptor values, plus a few
                    broken or edited ones (truncated, bad counts, no DACL)
  corpus/template/  real templates and two synthetic ones in the
                    length-prefixed attribute format of fuzz-template.c
"""
import base64
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "data", "windows-default-templates.ldif")


def read_ldif(path):
    """Entries as lists of (name, bytes), folded lines and comments handled."""
    entries, cur, lines = [], None, []
    for raw in open(path, encoding="utf-8").read().split("\n"):
        raw = raw.rstrip("\r")
        if raw.startswith(" ") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw)
    for line in lines:
        if line.startswith("#"):
            continue
        if not line:
            if cur:
                entries.append(cur)
            cur = None
            continue
        name, _, rest = line.partition(":")
        if rest.startswith(":"):
            value = base64.b64decode(rest[1:].strip())
        else:
            value = rest.lstrip(" ").encode("utf-8")
        if name.lower() == "dn":
            cur = []
            continue
        cur.append((name, value))
    if cur:
        entries.append(cur)
    return entries


def get(entry, name):
    return [v for n, v in entry if n.lower() == name.lower()]


def encode_bag(attrs):
    """fuzz-template.c's format: u8 name_len, name, u8 nvalues, (u16le len, value)*."""
    grouped = {}
    order = []
    for name, value in attrs:
        if name not in grouped:
            grouped[name] = []
            order.append(name)
        grouped[name].append(value)
    out = bytearray()
    for name in order:
        if name.lower() == "objectclass":
            continue
        nb = name.encode()
        out += bytes([len(nb)]) + nb + bytes([len(grouped[name])])
        for v in grouped[name]:
            out += struct.pack("<H", len(v)) + v
    return bytes(out)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def u16(b, off):
    return struct.unpack_from("<H", b, off)[0]


def main():
    entries = read_ldif(FIXTURE)
    by_cn = {get(e, "cn")[0].decode(): e for e in entries}
    sd_dir = os.path.join(HERE, "corpus", "secdesc")
    tpl_dir = os.path.join(HERE, "corpus", "template")
    for d in (sd_dir, tpl_dir):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))

    for cn, e in by_cn.items():
        write(os.path.join(sd_dir, "real-%s.bin" % cn), get(e, "nTSecurityDescriptor")[0])

    user = bytearray(get(by_cn["User"], "nTSecurityDescriptor")[0])
    dacl = struct.unpack_from("<I", user, 16)[0]
    write(os.path.join(sd_dir, "bad-truncated-100.bin"), bytes(user[:100]))
    write(os.path.join(sd_dir, "bad-header-only.bin"), bytes(user[:20]))
    b = bytearray(user)
    struct.pack_into("<H", b, dacl + 4, 0xFFFF)
    write(os.path.join(sd_dir, "bad-acecount-65535.bin"), bytes(b))
    b = bytearray(user)
    struct.pack_into("<H", b, dacl + 8 + 2, 0)
    write(os.path.join(sd_dir, "bad-acesize-0.bin"), bytes(b))
    b = bytearray(user)
    struct.pack_into("<I", b, 4, len(b) + 16)
    write(os.path.join(sd_dir, "bad-owner-outside.bin"), bytes(b))
    b = bytearray(user)
    b[dacl + 8 + 56 + 28 + 1] = 16  # SID of ACE 1 claims 16 sub-authorities
    write(os.path.join(sd_dir, "bad-sid-count-16.bin"), bytes(b))
    b = bytearray(user)
    struct.pack_into("<H", b, 2, u16(b, 2) & ~0x0004)
    write(os.path.join(sd_dir, "edit-no-dacl.bin"), bytes(b))
    b = bytearray(user)
    struct.pack_into("<H", b, dacl + 4, 0)
    write(os.path.join(sd_dir, "edit-empty-dacl.bin"), bytes(b))
    b = bytearray(user)
    b[dacl + 8 + 56] = 0x06  # Domain Users' allow becomes a deny
    write(os.path.join(sd_dir, "edit-deny-object.bin"), bytes(b))
    b = bytearray(user)
    b[dacl + 8 + 56] = 0x0C  # ... a callback deny
    write(os.path.join(sd_dir, "edit-callback-deny.bin"), bytes(b))
    b = bytearray(user)
    b[dacl + 8 + 56 + 1] = 0x08  # INHERIT_ONLY
    write(os.path.join(sd_dir, "edit-inherit-only.bin"), bytes(b))

    for cn in ("User", "Machine", "CrossCA", "OCSPResponseSigning",
               "DomainControllerAuthentication", "KerberosAuthentication", "WebServer"):
        write(os.path.join(tpl_dir, "real-%s.bin" % cn), encode_bag(by_cn[cn]))

    user_attrs = [(n, v) for n, v in by_cn["User"]]
    ec = [(n, v) for n, v in user_attrs
          if n not in ("msPKI-Template-Schema-Version", "cn")]
    ec += [("cn", b"LinuxEC"), ("msPKI-Template-Schema-Version", b"4"),
           ("msPKI-RA-Application-Policies",
            b"msPKI-Asymmetric-Algorithm`PZPWSTR`ECDSA_P256`msPKI-Hash-Algorithm`PZPWSTR`SHA256`"
            b"msPKI-RA-Application-Policies`PZPWSTR`1.3.6.1.4.1.311.20.2.1,1.3.6.1.5.5.7.3.2`")]
    write(os.path.join(tpl_dir, "synthetic-ecdsa-v4.bin"), encode_bag(ec))
    bad = [(n, v) for n, v in user_attrs if n != "pKIExpirationPeriod"]
    bad += [("pKIExpirationPeriod", get(by_cn["User"], "pKIExpirationPeriod")[0][:7])]
    write(os.path.join(tpl_dir, "bad-period-7-bytes.bin"), encode_bag(bad))
    # The same, naming attributes by their index in ae_template_attributes.
    write(os.path.join(tpl_dir, "indexed-cn-schema.bin"),
          bytes([0, 0, 1]) + struct.pack("<H", 3) + b"Foo" +
          bytes([0, 5, 1]) + struct.pack("<H", 1) + b"3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
