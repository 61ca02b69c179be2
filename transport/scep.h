/*
 * scep.h - the SCEP transport (RFC 8894), as Microsoft's NDES speaks it:
 * GetCACaps and GetCACert when the link opens (the RA and CA certificates
 * accepted only when they chain to AD's roots or a configured anchor),
 * then PKIOperation (POST where GetCACaps offers it, GET otherwise) with
 * a pkcsPKIEnvelope encrypted to the RA encryption certificate and signed
 * with the request's key (a self-signed certificate) or, for a renewal,
 * with the current certificate (RenewalReq where offered).  HTTPS only.
 */
#ifndef AE_SCEP_H
#define AE_SCEP_H

#include "transport.h"

#include <stdint.h>

/* SCEP over HTTPS (transport/scep.c).  ae_ca.url is the mscep.dll URL,
 * ae_ca.endpoint_trust the PEM roots (AD's, and the anchor) that the TLS
 * server and the RA and CA certificates must chain to. */
extern const ae_transport_ops ae_transport_scep;

/* Where the last SCEP call of this process failed, with the fields of
 * the Windows SCEP client's event 86: the stage ("GetCACaps",
 * "GetCACert", "PKIOperation"), the HTTP method and the code Windows
 * gives (0x80072F8F TLS, 0x80072EE7 name not resolved, 0x80072EFD
 * cannot connect, 0x80072EE2 timeout, 0x8019xxxx HTTP status, or the
 * SCEP failInfo as CERTSRV_E-like 0x8009xxxx is not used: 0 then). */
typedef struct {
	bool failed;
	const char *stage;
	const char *method;
	uint32_t code;
} ae_scep_failure;

const ae_scep_failure *ae_scep_last_failure(void);

#endif
