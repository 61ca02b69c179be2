/*
 * secdesc.h - self-relative security descriptors (MS-DTYP 2.4.6) and the
 * Enroll / AutoEnroll access checks on certificate templates (MS-CRTD 2.5,
 * MS-ADTS 5.1.3.3.4).
 *
 * The descriptor comes from the network: every offset and size is checked.
 * A malformed descriptor is an error with a message; the caller then treats
 * the right as not granted.
 */
#ifndef AE_SECDESC_H
#define AE_SECDESC_H

#include "error.h"
#include "sid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ACE types used by AD (MS-DTYP 2.4.4.1). */
#define AE_ACE_ALLOWED              0x00
#define AE_ACE_DENIED               0x01
#define AE_ACE_ALLOWED_OBJECT       0x05
#define AE_ACE_DENIED_OBJECT        0x06
#define AE_ACE_ALLOWED_CALLBACK_OBJ 0x0B
#define AE_ACE_DENIED_CALLBACK_OBJ  0x0C

#define AE_ACE_FLAG_INHERIT_ONLY    0x08
#define AE_ACE_OBJECT_TYPE_PRESENT  0x1
#define AE_ACE_INHERITED_TYPE_PRESENT 0x2

#define AE_RIGHT_DS_CONTROL_ACCESS  0x00000100
#define AE_GENERIC_ALL              0x10000000
#define AE_SD_DACL_PRESENT          0x0004

typedef struct {
	uint8_t type;
	uint8_t flags;
	uint32_t mask;
	uint32_t object_flags;      /* object ACEs only */
	uint8_t object_type[16];    /* valid if object_flags & 0x1, wire layout */
	uint8_t inherited_type[16]; /* valid if object_flags & 0x2 */
	ae_sid sid;
} ae_ace;

typedef struct {
	uint16_t control;
	bool has_owner, has_group, has_dacl;
	ae_sid owner;
	ae_sid group;
	ae_ace *aces;     /* DACL entries in binary order */
	size_t ace_count;
} ae_secdesc;

/* Parses DATA into a new descriptor (*OUT, free with ae_secdesc_free).
 * *OUT stays NULL on error, with the reason on CTX. */
ae_err ae_secdesc_parse(ae_ctx *ctx, const uint8_t *data, size_t len,
                        ae_secdesc **out);
void ae_secdesc_free(ae_secdesc *sd);

typedef enum {
	AE_RIGHT_ENROLL,      /* 0e10c968-78fb-11d2-90d4-00c04f79dc55 */
	AE_RIGHT_AUTOENROLL,  /* a05b8cc2-17bc-4802-a710-e7c15ab866a2 */
	AE_RIGHT_APPLY_GROUP_POLICY, /* edacfd8f-ffb3-11d1-b41d-00a0c968f939 (MS-GPOL 3.2.5.1.6) */
} ae_right;

/* What decided an access check, for explanations. */
typedef struct {
	bool allowed;
	int ace_index;   /* index of the deciding ACE, -1 if none matched */
	bool by_deny;    /* a deny ACE decided it */
	ae_sid sid;      /* the SID of the deciding ACE (valid if ace_index >= 0) */
} ae_access;

/* Evaluates RIGHT for TOKEN: ACEs in order, first match decides; no DACL
 * grants, an empty DACL denies.  Never fails. */
ae_access ae_secdesc_check(const ae_secdesc *sd, const ae_token *token, ae_right right);

/* The 16 wire bytes of a right's GUID. */
const uint8_t *ae_right_guid(ae_right right);

#endif
