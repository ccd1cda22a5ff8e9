/* conf.h - the parsed strictmx.conf, built from the one key table in conf.c.
 * Every key, its type, default and bounds are declared there and only there. */
#ifndef CONF_H
#define CONF_H

#include <stdio.h>
#include <sys/socket.h>

#include "strictmx.h"
#include "cidr.h"

enum conf_bare_newline { BARE_NEWLINE_REJECT, BARE_NEWLINE_NORMALIZE };
enum conf_helo_match { HELO_MATCH_A, HELO_MATCH_PTR, HELO_MATCH_ANY,
	HELO_MATCH_NONE };
enum conf_reject_at { REJECT_AT_HELO, REJECT_AT_RCPT };
enum conf_cbv_stage { CBV_STAGE_RCPT, CBV_STAGE_MAIL };
enum conf_verdict { VERDICT_TEMPFAIL, VERDICT_REJECT, VERDICT_ACCEPT };

/* Longest line of strictmx.conf, without its newline. */
#define CONF_LINE_MAX		4096
/* At most this many resolver addresses (udns's DNS_MAXSERV). */
#define CONF_RESOLVER_MAX	6

/* A numeric socket address, for listen and resolver. */
struct conf_listen {
	struct sockaddr_storage	ss;
	socklen_t		len;
	char			text[64];	/* as written, for logs */
};

/* Durations are in seconds, sizes in bytes. Strings are never NULL unless
 * the key has no default ("none"); lists may be empty. Paths are made
 * absolute: a relative one is taken from the config file's directory. */
struct conf {
	char		*path;
	char		*hostname;
	struct conf_listen *listen;
	size_t		 nlisten;
	char		*user;			/* NULL: none */
	char		**domains;		/* lower case */
	size_t		 ndomains;
	char		*recipients;
	char		*recipient_delimiter;	/* "" = off */
	char		*maildir_root;
	char		*stats_db;
	char		**resolver;		/* NULL/0: system; as written */
	unsigned	 resolver_timeout;	/* one lookup, seconds */
	unsigned	 resolver_cache_size;	/* answers kept, 0: none */
	struct conf_listen *resolver_addr;	/* the same, parsed (port 53
						 * when none is written) */
	size_t		 nresolver;		/* entries in both arrays */
	size_t		 max_message_size;
	unsigned	 max_recipients;
	unsigned	 max_clients;
	unsigned	 max_clients_per_ip;
	unsigned	 client_ipv6_prefix;	/* bits: one IPv6 client */
	unsigned	 max_errors;
	unsigned	 timeout_command;
	unsigned	 timeout_data;
	unsigned	 greet_delay;
	int		 bare_newline;		/* enum conf_bare_newline */
	char		*tls_certificate;	/* NULL: none */
	char		*tls_key;		/* NULL: none */
	struct cidr_list exempt_clients;
	int		 advertise_rfc3821;
	char		*rfc3821_keyword;
	int		 helo_policy;		/* enum policy_mode */
	int		 helo_match;		/* enum conf_helo_match */
	int		 helo_reject_at;	/* enum conf_reject_at */
	int		 sender_policy;		/* enum policy_mode */
	int		 cbv;
	int		 cbv_stage;		/* enum conf_cbv_stage */
	unsigned	 cbv_timeout;
	unsigned	 cbv_connect_timeout;
	unsigned	 cbv_max_mx;
	int		 cbv_noop;
	char		*cbv_probe_sender;	/* "" for <> */
	int		 cbv_on_tempfail;	/* enum conf_verdict */
	int		 cbv_on_refused_early;
	int		 cbv_on_refused_mail;
	int		 cbv_on_unverifiable;	/* accept or reject */
	unsigned	 cbv_cache_positive;
	unsigned	 cbv_cache_negative;
	unsigned	 cbv_cache_tempfail;
	unsigned	 cbv_max_concurrent;
	unsigned	 cbv_max_per_domain;
	unsigned	 cbv_max_per_client_minute;	/* new probes */
	unsigned	 cbv_max_per_domain_minute;
	struct cidr_list cbv_forbidden_networks;	/* the site's own */
	int		 cbv_forbidden_builtin;	/* "builtin" was listed */
	char		*dmp_table;		/* NULL: none */
	struct cidr_list local_sender_networks;
	int		 spf_policy;		/* enum policy_mode */
	int		 spf_on_fail;		/* enum conf_verdict: reject,
						 * accept */
	int		 spf_on_temperror;	/* accept, tempfail */
	int		 spf_on_permerror;	/* accept, reject */
	int		 cbv_skip_on_spf_pass;
	int		 dkim_verify;
	unsigned	 dkim_max_signatures;
	int		 dmarc_policy;		/* enum policy_mode */
	char		*dmarc_quarantine_folder;	/* Maildir++ name, no dot */
	char		*authserv_id;		/* never NULL after loading */
};

/* One row of the key table, exported for tests/unit/conf_keys (used by the
 * test that proves strictmx.conf(5) documents exactly these keys and
 * defaults). def is "(required)" for a key without default, "none" for an
 * optional key that is unset by default. */
struct conf_keyinfo {
	const char	*key;
	const char	*def;	/* default as the man page writes it */
};

/* conf_load prints every error as "FILE:LINE: text" to the FILE (NULL: be
 * quiet) and returns NULL if there was any; warnings do not fail it. */
struct conf *conf_load(const char *, FILE *);
void	conf_free(struct conf *);
const struct conf_keyinfo *conf_keys(size_t *);
int	conf_is_local_domain(const struct conf *, const char *);

#endif
