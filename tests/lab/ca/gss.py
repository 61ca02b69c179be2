# MIT GSS-API (libgssapi_krb5) through ctypes: just what the lab CA's
# DCE/RPC acceptor needs.  python3-gssapi's wrap_iov fails in the header-only
# DCE layout (see /work/shared/reference/lab-notes.md), so everything is
# called directly.
#
# Acceptor credentials come from the default keytab: set KRB5_KTNAME before
# the first call (labca.py does).

import ctypes
from ctypes import (POINTER, Structure, byref, c_int, c_size_t, c_uint32,
                    c_void_p)

_lib = ctypes.CDLL("libgssapi_krb5.so.2")


class gss_buffer_desc(Structure):
    _fields_ = [("length", c_size_t), ("value", c_void_p)]


class gss_OID_desc(Structure):
    _fields_ = [("length", c_uint32), ("elements", c_void_p)]


class gss_iov_buffer_desc(Structure):
    _fields_ = [("type", c_uint32), ("buffer", gss_buffer_desc)]


OM = c_uint32
gss_ctx_id_t = c_void_p
gss_name_t = c_void_p
gss_cred_id_t = c_void_p

GSS_C_DCE_STYLE = 0x1000
GSS_C_CONF_FLAG = 16
GSS_C_INTEG_FLAG = 32
GSS_S_COMPLETE = 0
GSS_S_CONTINUE_NEEDED = 1

IOV_EMPTY, IOV_DATA, IOV_HEADER, IOV_SIGN_ONLY = 0, 1, 2, 11


def _proto(name, *args):
    f = getattr(_lib, name)
    f.restype = OM
    f.argtypes = list(args)
    return f


_accept = _proto("gss_accept_sec_context", POINTER(OM), POINTER(gss_ctx_id_t),
                 gss_cred_id_t, POINTER(gss_buffer_desc), c_void_p,
                 POINTER(gss_name_t), POINTER(c_void_p), POINTER(gss_buffer_desc),
                 POINTER(OM), POINTER(OM), POINTER(gss_cred_id_t))
_release_buffer = _proto("gss_release_buffer", POINTER(OM), POINTER(gss_buffer_desc))
_release_name = _proto("gss_release_name", POINTER(OM), POINTER(gss_name_t))
_display_name = _proto("gss_display_name", POINTER(OM), gss_name_t,
                       POINTER(gss_buffer_desc), POINTER(c_void_p))
_display_status = _proto("gss_display_status", POINTER(OM), OM, c_int, c_void_p,
                         POINTER(OM), POINTER(gss_buffer_desc))
_delete_ctx = _proto("gss_delete_sec_context", POINTER(OM), POINTER(gss_ctx_id_t),
                     POINTER(gss_buffer_desc))
_wrap_iov = _proto("gss_wrap_iov", POINTER(OM), gss_ctx_id_t, c_int, OM,
                   POINTER(c_int), POINTER(gss_iov_buffer_desc), c_int)
_wrap_iov_length = _proto("gss_wrap_iov_length", POINTER(OM), gss_ctx_id_t, c_int, OM,
                          POINTER(c_int), POINTER(gss_iov_buffer_desc), c_int)
_unwrap_iov = _proto("gss_unwrap_iov", POINTER(OM), gss_ctx_id_t, POINTER(c_int),
                     POINTER(OM), POINTER(gss_iov_buffer_desc), c_int)


def _status_text(code, kind):
    out = []
    ctx = OM(0)
    while True:
        mn = OM(0)
        buf = gss_buffer_desc()
        if _display_status(byref(mn), code, kind, None, byref(ctx), byref(buf)):
            break
        out.append(ctypes.string_at(buf.value, buf.length).decode(errors="replace"))
        _release_buffer(byref(mn), byref(buf))
        if ctx.value == 0:
            break
    return "; ".join(out)


class GSSError(Exception):
    def __init__(self, what, major, minor):
        self.major, self.minor = major, minor
        super().__init__("%s: %s (%s)" % (what, _status_text(major, 1),
                                          _status_text(minor, 2)))


def _check(what, major, minor):
    # routine / calling errors are fatal; supplementary bits (e.g.
    # GSS_S_GAP_TOKEN, DUPLICATE_TOKEN) are not.
    if major & 0xFFFF0000:
        raise GSSError(what, major, minor.value)
    return major


class Context:
    """Per-message protection shared by acceptor and initiator contexts."""

    def __init__(self):
        self.ctx = gss_ctx_id_t(None)
        self.complete = False
        self.flags = 0
        self.principal = None

    def wrap(self, data):
        """Seal data (conf=1) in the DCE layout [HEADER, EMPTY, DATA, EMPTY];
        returns (sealed_data, header_token)."""
        mn = OM(0)
        conf = c_int(0)
        iov = (gss_iov_buffer_desc * 4)()
        iov[0].type, iov[1].type, iov[2].type, iov[3].type = IOV_HEADER, IOV_EMPTY, IOV_DATA, IOV_EMPTY
        dbuf = ctypes.create_string_buffer(data, len(data))
        iov[2].buffer.length = len(data)
        iov[2].buffer.value = ctypes.cast(dbuf, c_void_p)
        _check("gss_wrap_iov_length",
               _wrap_iov_length(byref(mn), self.ctx, 1, 0, byref(conf), iov, 4), mn)
        hlen = iov[0].buffer.length
        hbuf = ctypes.create_string_buffer(hlen)
        iov[0].buffer.value = ctypes.cast(hbuf, c_void_p)
        _check("gss_wrap_iov", _wrap_iov(byref(mn), self.ctx, 1, 0, byref(conf), iov, 4), mn)
        if not conf.value:
            raise GSSError("gss_wrap_iov: no confidentiality", 0, 0)
        return dbuf.raw[:len(data)], hbuf.raw[:iov[0].buffer.length]

    def wrap_size(self, n):
        mn = OM(0)
        conf = c_int(0)
        iov = (gss_iov_buffer_desc * 4)()
        iov[0].type, iov[1].type, iov[2].type, iov[3].type = IOV_HEADER, IOV_EMPTY, IOV_DATA, IOV_EMPTY
        iov[2].buffer.length = n
        _check("gss_wrap_iov_length",
               _wrap_iov_length(byref(mn), self.ctx, 1, 0, byref(conf), iov, 4), mn)
        return iov[0].buffer.length

    def unwrap(self, sealed, header):
        """Unseal [HEADER=header, EMPTY, DATA=sealed, EMPTY]; returns plaintext
        and whether confidentiality was applied."""
        mn = OM(0)
        conf = c_int(0)
        qop = OM(0)
        iov = (gss_iov_buffer_desc * 4)()
        iov[0].type, iov[1].type, iov[2].type, iov[3].type = IOV_HEADER, IOV_EMPTY, IOV_DATA, IOV_EMPTY
        hbuf = ctypes.create_string_buffer(header, len(header))
        dbuf = ctypes.create_string_buffer(sealed, len(sealed))
        iov[0].buffer.length = len(header)
        iov[0].buffer.value = ctypes.cast(hbuf, c_void_p)
        iov[2].buffer.length = len(sealed)
        iov[2].buffer.value = ctypes.cast(dbuf, c_void_p)
        _check("gss_unwrap_iov", _unwrap_iov(byref(mn), self.ctx, byref(conf), byref(qop), iov, 4), mn)
        return dbuf.raw[:iov[2].buffer.length], bool(conf.value)

    def close(self):
        if self.ctx.value:
            mn = OM(0)
            _delete_ctx(byref(mn), byref(self.ctx), None)
            self.ctx = gss_ctx_id_t(None)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Acceptor(Context):
    """GSS acceptor context (krb5 mech; DCE style if the client asks)."""

    def step(self, token):
        """Feed a client token; returns the output token (bytes, may be b"")."""
        mn = OM(0)
        inbuf = gss_buffer_desc(len(token), ctypes.cast(ctypes.c_char_p(token), c_void_p))
        src = gss_name_t(None)
        out = gss_buffer_desc()
        flags = OM(0)
        tr = OM(0)
        major = _accept(byref(mn), byref(self.ctx), None, byref(inbuf), None,
                        byref(src), None, byref(out), byref(flags), byref(tr), None)
        try:
            data = ctypes.string_at(out.value, out.length) if out.length else b""
        finally:
            m2 = OM(0)
            _release_buffer(byref(m2), byref(out))
        try:
            _check("gss_accept_sec_context", major, mn)
            if (major & 0xFFFF) == GSS_S_COMPLETE:
                self.complete = True
                self.flags = flags.value
                if src.value:
                    nb = gss_buffer_desc()
                    m3 = OM(0)
                    _check("gss_display_name", _display_name(byref(m3), src, byref(nb), None), m3)
                    self.principal = ctypes.string_at(nb.value, nb.length).decode()
                    _release_buffer(byref(m3), byref(nb))
        finally:
            if src.value:
                m4 = OM(0)
                _release_name(byref(m4), byref(src))
        return data


_import_name = _proto("gss_import_name", POINTER(OM), POINTER(gss_buffer_desc), c_void_p,
                      POINTER(gss_name_t))
_init = _proto("gss_init_sec_context", POINTER(OM), c_void_p, POINTER(gss_ctx_id_t), gss_name_t,
               c_void_p, OM, OM, c_void_p, POINTER(gss_buffer_desc), POINTER(c_void_p),
               POINTER(gss_buffer_desc), POINTER(OM), POINTER(OM))
GSS_C_NT_HOSTBASED_SERVICE = c_void_p.in_dll(_lib, "GSS_C_NT_HOSTBASED_SERVICE")
gss_mech_krb5 = c_void_p.in_dll(_lib, "gss_mech_krb5")
INIT_FLAGS = 2 | 4 | 8 | 16 | 32 | GSS_C_DCE_STYLE  # MUTUAL REPLAY SEQUENCE CONF INTEG DCE


class Initiator(Context):
    """GSS initiator (default ccache) for host@HOST, krb5 mech, DCE style:
    used by the lab CA's self-test client."""

    def __init__(self, service, flags=INIT_FLAGS):
        super().__init__()
        mn = OM(0)
        b = service.encode()
        buf = gss_buffer_desc(len(b), ctypes.cast(ctypes.c_char_p(b), c_void_p))
        self.name = gss_name_t(None)
        _check("gss_import_name", _import_name(byref(mn), byref(buf), GSS_C_NT_HOSTBASED_SERVICE,
                                               byref(self.name)), mn)
        self.req_flags = flags

    def step(self, token=b""):
        mn = OM(0)
        inbuf = gss_buffer_desc(len(token), ctypes.cast(ctypes.c_char_p(token), c_void_p)) \
            if token else gss_buffer_desc(0, None)
        out = gss_buffer_desc()
        flags = OM(0)
        tr = OM(0)
        major = _init(byref(mn), None, byref(self.ctx), self.name, gss_mech_krb5, self.req_flags,
                      0, None, byref(inbuf), None, byref(out), byref(flags), byref(tr))
        data = ctypes.string_at(out.value, out.length) if out.length else b""
        m2 = OM(0)
        _release_buffer(byref(m2), byref(out))
        _check("gss_init_sec_context", major, mn)
        if (major & 0xFFFF) == GSS_S_COMPLETE:
            self.complete = True
            self.flags = flags.value
        return data
