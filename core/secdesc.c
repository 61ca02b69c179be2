/*
 * secdesc.c - self-relative security descriptor parser and the template
 * Enroll / AutoEnroll check.
 *
 * The descriptor is untrusted network data: every offset and size is
 * checked against the buffer and against the enclosing ACL or ACE before
 * a byte is read.  The check follows MS-CRTD 2.5 and MS-ADTS 5.1.3.3.4
 * (see ad-data.md 3.4): ACEs in binary order, the first one that applies
 * decides.
 */
#include "config.h"

#include "secdesc.h"

#include <stdlib.h>
#include <string.h>

#define SD_HEADER_LEN 20
#define ACL_HEADER_LEN 8
#define ACE_HEADER_LEN 4
#define SID_MIN_LEN 8
#define GUID_LEN 16

#define SD_REVISION 1
#define SD_SELF_RELATIVE 0x8000
#define ACL_REVISION 2
#define ACL_REVISION_DS 4

/* The DS-mapped GENERIC_ALL (MS-ADTS 5.1.3.2); includes CR. */
#define DS_GENERIC_ALL_MAPPED 0x000F01FFu

static const uint8_t guid_enroll[GUID_LEN] = {
	0x68, 0xc9, 0x10, 0x0e, 0xfb, 0x78, 0xd2, 0x11,
	0x90, 0xd4, 0x00, 0xc0, 0x4f, 0x79, 0xdc, 0x55,
};
static const uint8_t guid_autoenroll[GUID_LEN] = {
	0xc2, 0x8c, 0x5b, 0xa0, 0xbc, 0x17, 0x02, 0x48,
	0xa7, 0x10, 0xe7, 0xc1, 0x5a, 0xb8, 0x66, 0xa2,
};

static const uint8_t guid_apply_group_policy[GUID_LEN] = {
	0x8f, 0xfd, 0xac, 0xed, 0xb3, 0xff, 0xd1, 0x11,
	0xb4, 0x1d, 0x00, 0xa0, 0xc9, 0x68, 0xf9, 0x39,
};

const uint8_t *
ae_right_guid(ae_right right)
{
	switch (right) {
	case AE_RIGHT_AUTOENROLL: return guid_autoenroll;
	case AE_RIGHT_APPLY_GROUP_POLICY: return guid_apply_group_policy;
	case AE_RIGHT_ENROLL: break;
	}
	return guid_enroll;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static bool
is_object_type(uint8_t type)
{
	return type == AE_ACE_ALLOWED_OBJECT || type == AE_ACE_DENIED_OBJECT ||
	       type == AE_ACE_ALLOWED_CALLBACK_OBJ || type == AE_ACE_DENIED_CALLBACK_OBJ ||
	       type == 0x07 /* SYSTEM_AUDIT_OBJECT */ || type == 0x0F /* SYSTEM_AUDIT_CALLBACK_OBJECT */;
}

/* The smallest AceSize a type can have: header, mask, and for object
 * types the flags word, then an empty SID.  Unknown types only need the
 * header (we never read past it). */
static size_t
ace_min_size(uint8_t type)
{
	switch (type) {
	case AE_ACE_ALLOWED:
	case AE_ACE_DENIED:
		return ACE_HEADER_LEN + 4 + SID_MIN_LEN;
	default:
		if (is_object_type(type))
			return ACE_HEADER_LEN + 4 + 4 + SID_MIN_LEN;
		return ACE_HEADER_LEN;
	}
}

/* A SID at OFF inside the descriptor (owner or group). */
static ae_err
parse_sd_sid(ae_ctx *ctx, const uint8_t *data, size_t len, uint32_t off,
             const char *what, ae_sid *out)
{
	ae_err err;

	if (off < SD_HEADER_LEN || off >= len)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s offset %u is outside the %zu-byte descriptor",
		                      what, off, len);
	err = ae_sid_from_bytes(ctx, data + off, len - off, out, NULL);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "%s SID at offset %u", what, off);
	return AE_OK;
}

/* Checks an ACL header at OFF and returns its bounds. */
static ae_err
check_acl_header(ae_ctx *ctx, const uint8_t *data, size_t len, uint32_t off,
                 const char *what, size_t *acl_size, unsigned *ace_count)
{
	uint8_t rev;
	size_t size;

	if (off < SD_HEADER_LEN || off >= len || len - off < ACL_HEADER_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s offset %u leaves no room for an ACL header in the %zu-byte descriptor",
		                      what, off, len);
	rev = data[off];
	size = le16(data + off + 2);
	if (rev != ACL_REVISION && rev != ACL_REVISION_DS)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s revision is %u; expected 2 or 4", what, (unsigned)rev);
	if (size < ACL_HEADER_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s size %zu is smaller than its %d-byte header",
		                      what, size, ACL_HEADER_LEN);
	if (size > len - off)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "%s at offset %u claims %zu bytes but only %zu remain in the descriptor",
		                      what, off, size, len - off);
	*acl_size = size;
	*ace_count = le16(data + off + 4);
	return AE_OK;
}

/* Decodes one ACE whose AceSize bytes (already bounds-checked) are at P. */
static ae_err
parse_ace(ae_ctx *ctx, const uint8_t *p, size_t size, unsigned index, ae_ace *ace)
{
	size_t pos;
	ae_err err;

	memset(ace, 0, sizeof(*ace));
	ace->type = p[0];
	ace->flags = p[1];
	if (size >= ACE_HEADER_LEN + 4)
		ace->mask = le32(p + 4);

	if (ace->type == AE_ACE_ALLOWED || ace->type == AE_ACE_DENIED) {
		pos = ACE_HEADER_LEN + 4;
	} else if (is_object_type(ace->type)) {
		ace->object_flags = le32(p + 8);
		pos = ACE_HEADER_LEN + 8;
		/* The GUIDs are only there when their flag says so; the SID
		 * moves accordingly. */
		if (ace->object_flags & AE_ACE_OBJECT_TYPE_PRESENT) {
			if (size - pos < GUID_LEN + SID_MIN_LEN)
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "ACE %u: AceSize %zu has no room for its ObjectType and SID",
				                      index, size);
			memcpy(ace->object_type, p + pos, GUID_LEN);
			pos += GUID_LEN;
		}
		if (ace->object_flags & AE_ACE_INHERITED_TYPE_PRESENT) {
			if (size - pos < GUID_LEN + SID_MIN_LEN)
				return ae_set_message(ctx, AE_ERR_INVALID,
				                      "ACE %u: AceSize %zu has no room for its InheritedObjectType and SID",
				                      index, size);
			memcpy(ace->inherited_type, p + pos, GUID_LEN);
			pos += GUID_LEN;
		}
	} else {
		/* Unknown or irrelevant type (audit, label, ...): kept so the
		 * indexes match the binary, ignored by the check. */
		return AE_OK;
	}

	err = ae_sid_from_bytes(ctx, p + pos, size - pos, &ace->sid, NULL);
	if (err != AE_OK)
		return ae_prefix_message(ctx, err, "ACE %u (type 0x%02x, AceSize %zu)",
		                         index, (unsigned)ace->type, size);
	return AE_OK;
}

static ae_err
parse_dacl(ae_ctx *ctx, const uint8_t *data, size_t len, uint32_t off, ae_secdesc *sd)
{
	size_t acl_size, pos;
	unsigned count;
	ae_err err;

	err = check_acl_header(ctx, data, len, off, "DACL", &acl_size, &count);
	if (err != AE_OK)
		return err;
	if (count == 0)
		return AE_OK;
	/* Each ACE has at least a header: reject an impossible count before
	 * allocating for it. */
	if ((size_t)count * ACE_HEADER_LEN > acl_size - ACL_HEADER_LEN)
		return ae_set_message(ctx, AE_ERR_INVALID,
		                      "DACL says it has %u ACEs but its %zu bytes cannot hold them",
		                      count, acl_size);
	sd->aces = calloc(count, sizeof(ae_ace));
	if (sd->aces == NULL)
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory parsing a DACL");

	pos = ACL_HEADER_LEN;
	for (unsigned i = 0; i < count; i++) {
		const uint8_t *p = data + off + pos;
		size_t size, min;

		if (acl_size - pos < ACE_HEADER_LEN)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "ACE %u of %u starts at DACL byte %zu, past the end of the %zu-byte DACL",
			                      i, count, pos, acl_size);
		size = le16(p + 2);
		min = ace_min_size(p[0]);
		if (size < min)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "ACE %u (type 0x%02x) has AceSize %zu; the minimum for its type is %zu",
			                      i, (unsigned)p[0], size, min);
		if (size % 4 != 0)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "ACE %u has AceSize %zu, which is not a multiple of 4",
			                      i, size);
		if (size > acl_size - pos)
			return ae_set_message(ctx, AE_ERR_INVALID,
			                      "ACE %u of %u (AceSize %zu at DACL byte %zu) runs past the %zu-byte DACL",
			                      i, count, size, pos, acl_size);
		err = parse_ace(ctx, p, size, i, &sd->aces[i]);
		if (err != AE_OK)
			return err;
		sd->ace_count = i + 1;
		pos += size;
	}
	return AE_OK;
}

ae_err
ae_secdesc_parse(ae_ctx *ctx, const uint8_t *data, size_t len, ae_secdesc **out)
{
	ae_secdesc *sd = NULL;
	uint32_t off_owner, off_group, off_sacl, off_dacl;
	ae_err err;

	ae_return_val_if_fail(out != NULL, AE_ERR_INTERNAL);
	*out = NULL;
	if (data == NULL || len < SD_HEADER_LEN) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "the header alone needs %d bytes",
		                     SD_HEADER_LEN);
		goto cleanup;
	}
	sd = calloc(1, sizeof(*sd));
	if (sd == NULL) {
		err = ae_set_message(ctx, AE_ERR_NOMEM, "out of memory parsing a security descriptor");
		goto cleanup;
	}
	if (data[0] != SD_REVISION) {
		err = ae_set_message(ctx, AE_ERR_INVALID, "revision is %u; expected 1",
		                     (unsigned)data[0]);
		goto cleanup;
	}
	sd->control = le16(data + 2);
	if (!(sd->control & SD_SELF_RELATIVE)) {
		/* An absolute descriptor holds pointers, not offsets; LDAP
		 * never sends one. */
		err = ae_set_message(ctx, AE_ERR_INVALID, "control 0x%04x lacks SE_SELF_RELATIVE",
		                     (unsigned)sd->control);
		goto cleanup;
	}
	off_owner = le32(data + 4);
	off_group = le32(data + 8);
	off_sacl = le32(data + 12);
	off_dacl = le32(data + 16);

	if (off_owner != 0) {
		err = parse_sd_sid(ctx, data, len, off_owner, "owner", &sd->owner);
		if (err != AE_OK)
			goto cleanup;
		sd->has_owner = true;
	}
	if (off_group != 0) {
		err = parse_sd_sid(ctx, data, len, off_group, "group", &sd->group);
		if (err != AE_OK)
			goto cleanup;
		sd->has_group = true;
	}
	if (off_sacl != 0) {
		/* Not used, but a SACL pointing outside the buffer means the
		 * whole descriptor cannot be trusted. */
		size_t sacl_size;
		unsigned sacl_count;
		err = check_acl_header(ctx, data, len, off_sacl, "SACL", &sacl_size, &sacl_count);
		if (err != AE_OK)
			goto cleanup;
	}
	/* DP clear or a zero offset both mean "no DACL", which grants all. */
	if ((sd->control & AE_SD_DACL_PRESENT) && off_dacl != 0) {
		err = parse_dacl(ctx, data, len, off_dacl, sd);
		if (err != AE_OK)
			goto cleanup;
		sd->has_dacl = true;
	}

	*out = sd;
	sd = NULL;
	err = AE_OK;
cleanup:
	if (err != AE_OK && err != AE_ERR_NOMEM)
		ae_prefix_message(ctx, err, "malformed security descriptor (%zu bytes)",
		                  data == NULL ? (size_t)0 : len);
	ae_secdesc_free(sd);
	return err;
}

void
ae_secdesc_free(ae_secdesc *sd)
{
	if (sd == NULL)
		return;
	free(sd->aces);
	free(sd);
}

/* Does an object ACE cover RIGHT: no ObjectType means every extended
 * right (MS-ADTS 5.1.3.2.1). */
static bool
object_matches(const ae_ace *ace, ae_right right)
{
	if (!(ace->object_flags & AE_ACE_OBJECT_TYPE_PRESENT))
		return true;
	return memcmp(ace->object_type, ae_right_guid(right), GUID_LEN) == 0;
}

ae_access
ae_secdesc_check(const ae_secdesc *sd, const ae_token *token, ae_right right)
{
	ae_access acc;

	memset(&acc, 0, sizeof(acc));
	acc.ace_index = -1;
	if (sd == NULL)
		return acc;
	if (!sd->has_dacl) {
		acc.allowed = true;
		return acc;
	}
	for (size_t i = 0; i < sd->ace_count; i++) {
		const ae_ace *ace = &sd->aces[i];
		uint32_t mask = ace->mask;
		bool allow;

		if (ace->flags & AE_ACE_FLAG_INHERIT_ONLY)
			continue;
		switch (ace->type) {
		case AE_ACE_ALLOWED:
		case AE_ACE_ALLOWED_OBJECT:
			allow = true;
			break;
		case AE_ACE_DENIED:
		case AE_ACE_DENIED_OBJECT:
		/* Conditions cannot be evaluated here: a conditional deny is
		 * assumed to apply, a conditional allow is not relied on. */
		case AE_ACE_DENIED_CALLBACK_OBJ:
			allow = false;
			break;
		default:
			continue;
		}
		if (!ae_token_has(token, &ace->sid))
			continue;
		if (mask & AE_GENERIC_ALL)
			mask |= DS_GENERIC_ALL_MAPPED;
		if (!(mask & AE_RIGHT_DS_CONTROL_ACCESS))
			continue;
		if (ace->type != AE_ACE_ALLOWED && ace->type != AE_ACE_DENIED &&
		    !object_matches(ace, right))
			continue;
		acc.allowed = allow;
		acc.by_deny = !allow;
		acc.ace_index = (int)i;
		acc.sid = ace->sid;
		return acc;
	}
	return acc;
}
