/*
 * transport.c - links to CAs through their transports (see transport.h).
 */
#include "config.h"

#include "transport.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct ae_ca_link {
	const ae_transport_ops *ops;
	void *state;
	char *host;
	char *url;
};

void
ae_ca_answer_clear(ae_ca_answer *a)
{
	if (a == NULL)
		return;
	free(a->cert);
	free(a->chain);
	free(a->message);
	memset(a, 0, sizeof(*a));
}

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcasecmp(a, b) == 0);
}

ae_err
ae_ca_link_open(ae_ctx *ctx, const ae_conf *conf, const ae_ca *ca, ae_ca_link **out)
{
	ae_ca_link *l;
	ae_err err;

	*out = NULL;
	if (ca->transport == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "the policy says no way to reach CA %s", ca->name);
	if (ca->host == NULL && ca->url == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "CA %s has no host name or URL in the policy", ca->name);
	l = calloc(1, sizeof(*l));
	if (l == NULL || (ca->host && (l->host = strdup(ca->host)) == NULL) ||
	    (ca->url && (l->url = strdup(ca->url)) == NULL)) {
		ae_ca_link_free(l);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	l->ops = ca->transport;
	if ((err = l->ops->open(ctx, conf, ca, &l->state)) != AE_OK) {
		l->ops = NULL;
		ae_ca_link_free(l);
		return err;
	}
	*out = l;
	return AE_OK;
}

bool
ae_ca_link_reaches(const ae_ca_link *link, const ae_ca *ca)
{
	return link != NULL && link->ops == ca->transport && same(link->host, ca->host) && same(link->url, ca->url);
}

ae_err
ae_ca_link_submit(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const char *attrs, const uint8_t *req,
                  size_t len, ae_ca_answer *out)
{
	memset(out, 0, sizeof(*out));
	return link->ops->submit(ctx, link->state, ca, attrs, req, len, out);
}

ae_err
ae_ca_link_submit_keyed(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const uint8_t *req, size_t len,
                        EVP_PKEY *key, X509 *old_cert, EVP_PKEY *old_key, ae_ca_answer *out)
{
	memset(out, 0, sizeof(*out));
	return link->ops->submit_keyed(ctx, link->state, ca, req, len, key, old_cert, old_key, out);
}

ae_err
ae_ca_link_submit_as(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const char *attrs, const uint8_t *req, size_t len,
                     X509 *client_cert, EVP_PKEY *client_key, ae_ca_answer *out)
{
	memset(out, 0, sizeof(*out));
	if (link->ops->submit_as == NULL || client_cert == NULL || client_key == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s cannot authenticate a request to CA %s with its certificate",
		                      link->ops->name, ca->name);
	return link->ops->submit_as(ctx, link->state, ca, attrs, req, len, client_cert, client_key, out);
}

ae_err
ae_ca_link_retrieve(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, uint32_t request_id, ae_ca_answer *out)
{
	memset(out, 0, sizeof(*out));
	if (link->ops->retrieve == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s cannot ask CA %s about a pending request",
		                      link->ops->name, ca->name);
	return link->ops->retrieve(ctx, link->state, ca, request_id, out);
}

ae_err
ae_ca_link_retrieve_keyed(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, const uint8_t *subject, size_t subject_len,
                          EVP_PKEY *key, ae_ca_answer *out)
{
	memset(out, 0, sizeof(*out));
	if (link->ops->retrieve_keyed == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED, "%s cannot poll CA %s with the request's key",
		                      link->ops->name, ca->name);
	return link->ops->retrieve_keyed(ctx, link->state, ca, subject, subject_len, key, out);
}

ae_err
ae_ca_link_ca_certs(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, STACK_OF(X509) **out)
{
	STACK_OF(X509) *sk;

	*out = NULL;
	if (link != NULL && link->ops->ca_certs != NULL)
		return link->ops->ca_certs(ctx, link->state, ca, out);
	if (ca->cert == NULL)
		return ae_set_message(ctx, AE_ERR_NOTFOUND, "the policy has no certificate of CA %s", ca->name);
	if ((sk = sk_X509_new_null()) == NULL || sk_X509_push(sk, ca->cert) <= 0) {
		sk_X509_free(sk);
		return ae_set_message(ctx, AE_ERR_NOMEM, "out of memory");
	}
	X509_up_ref(ca->cert);
	*out = sk;
	return AE_OK;
}

ae_err
ae_ca_link_exchange_cert(ae_ctx *ctx, ae_ca_link *link, const ae_ca *ca, X509 **out)
{
	*out = NULL;
	if (link->ops->exchange_cert == NULL)
		return ae_set_message(ctx, AE_ERR_UNSUPPORTED,
		                      "CA %s is reached over %s, which does not serve the CA exchange certificate that key "
		                      "archival needs (only DCOM and CES do, MS-WCCE 3.1.1.4.3.6)",
		                      ca->name, link->ops->name);
	return link->ops->exchange_cert(ctx, link->state, ca, out);
}

unsigned
ae_ca_link_round_trips(const ae_ca_link *link)
{
	return link != NULL && link->ops != NULL && link->ops->round_trips != NULL ? link->ops->round_trips(link->state)
	                                                                          : 0;
}

void
ae_ca_link_free(ae_ca_link *link)
{
	if (link == NULL)
		return;
	if (link->ops != NULL && link->ops->close != NULL)
		link->ops->close(link->state);
	free(link->host);
	free(link->url);
	free(link);
}

ae_err
ae_ca_links_get(ae_ctx *ctx, ae_ca_links *links, const ae_ca *ca, ae_ca_link **out)
{
	ae_err err;

	*out = NULL;
	if (links->link != NULL && ae_ca_link_reaches(links->link, ca)) {
		*out = links->link;
		return AE_OK;
	}
	ae_ca_links_drop(links);
	if ((err = ae_ca_link_open(ctx, links->conf, ca, &links->link)) != AE_OK)
		return err;
	*out = links->link;
	return AE_OK;
}

void
ae_ca_links_drop(ae_ca_links *links)
{
	links->closed_trips += ae_ca_link_round_trips(links->link);
	ae_ca_link_free(links->link);
	links->link = NULL;
}

unsigned
ae_ca_links_round_trips(const ae_ca_links *links)
{
	return links->closed_trips + ae_ca_link_round_trips(links->link);
}
