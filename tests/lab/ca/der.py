# Minimal DER reader/writer for the lab CA (SPNEGO, CMS, CMC, template and
# SID extensions).  No schema: callers walk TLVs.


class DERError(ValueError):
    pass


def read_tlv(data, off=0):
    """-> (tag, content_bytes, full_tlv_bytes, next_offset)"""
    if off + 2 > len(data):
        raise DERError("truncated TLV")
    tag = data[off]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers not supported")
    n = data[off + 1]
    p = off + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or p + k > len(data):
            raise DERError("bad length")
        n = int.from_bytes(data[p:p + k], "big")
        p += k
    if p + n > len(data):
        raise DERError("truncated value")
    return tag, data[p:p + n], data[off:p + n], p + n


def children(content):
    """All TLVs inside a constructed value: list of (tag, content, full)."""
    out = []
    off = 0
    while off < len(content):
        t, c, full, off = read_tlv(content, off)
        out.append((t, c, full))
    return out


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def set_of(*items):
    return tlv(0x31, b"".join(sorted(items)))


def ctx(n, content, constructed=True):
    return tlv((0xA0 if constructed else 0x80) | n, content)


def integer(v):
    if v == 0:
        return tlv(0x02, b"\x00")
    b = v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True)
    return tlv(0x02, b)


def enumerated(v):
    return tlv(0x0A, bytes([v]))


def octets(b):
    return tlv(0x04, b)


def bmp(s):
    return tlv(0x1E, s.encode("utf-16-be"))


def utf8(s):
    return tlv(0x0C, s.encode())


def oid(dotted):
    arcs = [int(x) for x in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        enc = [a & 0x7F]
        a >>= 7
        while a:
            enc.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)


def oid_str(content):
    """Decode the content of an OBJECT IDENTIFIER."""
    if not content:
        raise DERError("empty OID")
    first = content[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    v = 0
    for b in content[1:]:
        v = (v << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(v)
            v = 0
    return ".".join(str(a) for a in arcs)


def int_val(content):
    return int.from_bytes(content, "big", signed=True)


def string_val(tag, content):
    if tag == 0x1E:
        return content.decode("utf-16-be")
    return content.decode("utf-8", errors="replace")
