# A hostile CA: `labctl ca-mode NAME` (the lever file LAB/ca/mode, read per
# request like the CA's other levers) makes CORP-CA1 misbehave on
# CertServerRequest until `labctl ca-mode normal`.  The request is still
# evaluated and recorded as AD CS would; only what goes back is wrong:
#
#   foreign-key     the certificate certifies another public key
#   wrong-template  the certificate is issued for another template
#   bad-chain       the certificate and its chain are signed by an impostor
#                   CA of the same name: the chain does not verify
#   oversized       one response fragment far larger than the client's
#                   max_recv_frag, alloc_hint 0xffffffff
#   truncated       the response stub cut in half (sealed, LAST_FRAG)
#   frag-overflow   frag_length says more bytes than the PDU has, then the
#                   CA stops sending
#   auth-overflow   auth_length past the end of the PDU
#   slow            the response sent one byte a second
#   hangup          half of the response, then the connection is closed
#
# The binding, the endpoint mapper and the CA's own records stay normal.

import logging
import socket
import struct
import time

log = logging.getLogger("labca.hostile")

MODES = ("normal", "foreign-key", "wrong-template", "bad-chain", "oversized", "truncated",
         "frag-overflow", "auth-overflow", "slow", "hangup")
ISSUE_MODES = ("foreign-key", "wrong-template", "bad-chain")
WIRE_MODES = ("oversized", "truncated", "frag-overflow", "auth-overflow", "slow", "hangup")


def mode(ca):
    m = ca.lever("mode", "normal")
    if m not in MODES:
        log.warning("unknown ca mode %r: normal", m)
        return "normal"
    return m


class _ForeignCsr:
    """The request's CSR, but with another public key."""

    def __init__(self, csr):
        from cryptography.hazmat.primitives.asymmetric import ec
        self._csr = csr
        self._key = ec.generate_private_key(ec.SECP256R1()).public_key()

    def public_key(self):
        return self._key

    def __getattr__(self, name):
        return getattr(self._csr, name)


class _Foreign:
    def __init__(self, p):
        self._p = p
        self.csr = _ForeignCsr(p.csr)

    def __getattr__(self, name):
        return getattr(self._p, name)


def before_issue(ca, m, p, tmpl):
    """-> (request, template) to issue from under mode M."""
    if m == "foreign-key":
        log.warning("hostile: issuing for a foreign public key")
        return _Foreign(p), tmpl
    if m == "wrong-template":
        other = "User" if tmpl.cn != "User" else "LabUser"
        tmpls, _ = ca.dir.templates([other])
        if tmpls:
            log.warning("hostile: issuing %s instead of %s", other, tmpl.cn)
            return p, tmpls[0]
    return p, tmpl


def after_issue(ca, m, cert_der, chain):
    """-> (certificate, chain) to answer with under mode M."""
    if m != "bad-chain":
        return cert_der, chain
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs7
    log.warning("hostile: certificate and chain signed by an impostor CA")
    leaf = x509.load_der_x509_certificate(cert_der)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    fake = (x509.CertificateBuilder().subject_name(ca.cert.subject).issuer_name(ca.cert.issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    b = (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(leaf.issuer)
         .public_key(leaf.public_key()).serial_number(leaf.serial_number)
         .not_valid_before(leaf.not_valid_before).not_valid_after(leaf.not_valid_after))
    for e in leaf.extensions:
        b = b.add_extension(e.value, critical=e.critical)
    forged = b.sign(key, hashes.SHA256())
    chain = pkcs7.serialize_certificates([forged, fake, ca.root], serialization.Encoding.DER)
    return forged.public_bytes(serialization.Encoding.DER), chain


def respond_params(m, stub, room):
    """-> (stub, room, alloc_hint or None) for the response under mode M."""
    if m == "oversized":
        # one fragment of ~60 KB whatever max_recv_frag the client offered
        pad = 60000 - len(stub)
        return stub + b"\x00" * max(pad, 0), max(len(stub), 60000) + 16, 0xFFFFFFFF
    if m == "truncated":
        return stub[:len(stub) // 2], room, None
    return stub, room, None


def send(conn, data, m):
    """Send the response PDUs DATA (bytes) on CONN under mode M."""
    sock = conn.sock
    if m == "auth-overflow":
        flen = struct.unpack_from("<H", data, 8)[0]
        data = data[:10] + struct.pack("<H", flen) + data[12:]
    elif m == "frag-overflow":
        flen = struct.unpack_from("<H", data, 8)[0]
        data = data[:8] + struct.pack("<H", min(0xFFFF, flen + 4096)) + data[10:]
    elif m == "slow":
        log.warning("hostile: answering a byte a second (%d bytes)", len(data))
        for i in range(len(data)):
            sock.sendall(data[i:i + 1])
            time.sleep(1)
        return
    elif m == "hangup":
        sock.sendall(data[:len(data) // 2])
        log.warning("hostile: closing mid-response")
        sock.shutdown(socket.SHUT_RDWR)
        raise EOFError
    sock.sendall(data)
    if m == "frag-overflow":
        # nothing more comes: the client must not wait past its timeout
        # for the bytes the header promised; end when it leaves
        sock.settimeout(300)
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass
        raise EOFError
