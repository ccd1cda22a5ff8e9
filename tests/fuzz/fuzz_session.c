/* fuzz_session.c - libFuzzer harness for a whole SMTP session: the real
 * session state machine, command table, DATA transfer and policy modules
 * driven by arbitrary bytes from one client over a socketpair.
 *
 *	LLVMFuzzerInitialize - four configurations (one with a throw-away
 *	    certificate for STARTTLS), one event base for the whole run
 *	LLVMFuzzerTestOneInput - one session: accept, feed, run, free, check
 *
 * Everything from session.c down is the daemon's own code (session,
 * command, transfer, data, authres, helo, fcrdns, sender, SPF, DKIM, DMARC,
 * msgauth, table, conf, tls); DNS, maildirs, stats and the CBV client are
 * the stand-ins of fuzz_session_stubs.c, whose answers come only through
 * the loop and only when this driver says so.
 *
 * Input layout: byte 0 = configuration (bits 0-1) and client address
 * (bits 2-3: 192.0.2.1 with a confirmed PTR, 192.0.2.2 with a forged one,
 * 127.0.0.1, 2001:db8::25); byte 1 = modes (bit 0 every DNS lookup
 * TEMPFAIL, bits 1-2 disk failure, bits 3-5 default CBV outcome, bit 6 CBV
 * decided inside cbv_probe, bit 7 answer DNS/CBV/commits before the next
 * chunk rather than after the last); byte 2 = how the rest is written:
 * bit 7 set, one line per step, each after the reply to the one before
 * (a client that waits, as RFC 5321 wants one to), else cut into 1..4
 * chunks (bits 0-1, cut points from the whole byte) written one a step
 * (pipelining, partial lines); bit 6 set, SIGTERM reaches the session
 * (session_shutdown, as server_stop calls it) at driver step 4 + 3 x bits
 * 0-4; the rest is what the client sends. After the last chunk the client half-closes;
 * when nothing is left to happen, virtual time passes: the session's
 * timer is fired (timeouts, greeting delay, linger) at most 3 times, and a
 * session still alive after that, or after FUZZ_STEPS steps, is freed
 * where it stands.
 *
 * Invariants checked:
 *   - "250 2.0.0 Ok: queued as ID" names a message whose commit succeeded
 *     (never before the commit point, never after a failed one);
 *   - until STARTTLS's 220, every octet the server sends is a reply line:
 *     at most 512 octets with its CRLF (RFC 5321 §4.5.3.1.5), a code
 *     2xx..5xx, then SP or "-", continuation lines with the same code;
 *   - once the session is gone (however it ended), no DNS query, probe or
 *     commit of it is pending, and every maildir message was committed or
 *     aborted: nothing can call back into freed memory, nothing leaks;
 *   - ASan/UBSan/LSan clean; the stand-ins assert the module contracts
 *     (maildir_write after commit, a cancelled handle used again...).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "server.h"
#include "session.h"
#include "conf.h"
#include "spf.h"
#include "dkim.h"
#include "dmarc.h"
#include "sender.h"
#include "cbv.h"
#include "log.h"
#include "fuzz_session.h"

#define FUZZ_NCONF	4
#define FUZZ_STEPS	600	/* driver steps per input */
#define FUZZ_TIMER_FIRES 3	/* virtual timeouts per input */

static struct event_base *fuzz_base;
static struct runconf *fuzz_rc[FUZZ_NCONF];
static char fuzz_dir[64];
static int fuzz_log;

/* The configurations: 0 the defaults with STARTTLS; 1 everything "log",
 * bare LF normalised, small limits, CBV at MAIL; 2 STARTTLS, a greeting
 * delay, the test networks exempt; 3 policies off, SPF pass skips CBV. */
static const char *const fuzz_conf_text[FUZZ_NCONF] = {
	"tls_certificate %1$s/cert.pem\ntls_key %1$s/key.pem\n",

	"bare_newline normalize\nhelo_policy log\nhelo_reject_at rcpt\n"
	"sender_policy log\ncbv_stage mail\nspf_policy log\n"
	"dmarc_policy log\nmax_message_size 1K\nmax_recipients 2\n"
	"max_errors 3\nhelo_match ptr\n",

	"tls_certificate %1$s/cert.pem\ntls_key %1$s/key.pem\n"
	"greet_delay 1s\nexempt_clients 127.0.0.0/8 2001:db8::/32\n"
	"advertise_rfc3821 no\ndkim_max_signatures 1\n",

	"helo_policy off\nsender_policy off\nspf_policy off\n"
	"dmarc_policy off\ncbv no\nbare_newline normalize\n"
	"local_sender_networks 192.0.2.0/24\ncbv_skip_on_spf_pass yes\n"
	"dkim_verify no\n",
};

static void
fuzz_write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
	f = fopen(path, "w");
	assert(f != NULL);
	fputs(text, f);
	assert(fclose(f) == 0);
}

/* fuzz_make_cert - a throw-away P-256 key and self-signed certificate. */
static void
fuzz_make_cert(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	char path[128];
	FILE *f;

	assert(pk != NULL && x != NULL);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, pk);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"mx.example.net", -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert(X509_sign(x, pk, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/key.pem", fuzz_dir);
	assert((f = fopen(path, "w")) != NULL);
	assert(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/cert.pem", fuzz_dir);
	assert((f = fopen(path, "w")) != NULL);
	assert(PEM_write_X509(f, x) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char text[2048], name[32], path[128];
	struct fuzz_modes m;
	size_t i;

	(void)argc, (void)argv;
	fuzz_log = getenv("FUZZ_SESSION_LOG") != NULL;
	signal(SIGPIPE, SIG_IGN);
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz_session.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	assert(mkdtemp(fuzz_dir) != NULL);
	fuzz_make_cert();
	fuzz_write_file("recipients", "postmaster@example.net postmaster\n"
	    "alice@example.net alice\nbob@example.net bob\n"
	    "j\xc3\xb6rg@example.net jorg\n");
	snprintf(path, sizeof(path), "%s/spool", fuzz_dir);
	mkdir(path, 0700);
	for (i = 0; i < FUZZ_NCONF; i++) {
		int n = snprintf(text, sizeof(text),
		    "hostname mx.example.net\ndomains example.net\n"
		    "recipients %1$s/recipients\nmaildir_root %1$s/spool\n"
		    "stats_db %1$s/stats.db\nlisten 127.0.0.1:2525\n", fuzz_dir);

		snprintf(text + n, sizeof(text) - (size_t)n, fuzz_conf_text[i],
		    fuzz_dir);
		snprintf(name, sizeof(name), "strictmx%zu.conf", i);
		fuzz_write_file(name, text);
		snprintf(path, sizeof(path), "%s/%s", fuzz_dir, name);
		fuzz_rc[i] = runconf_load(path, stderr);
		if (fuzz_rc[i] == NULL) {
			fprintf(stderr, "fuzz_session: %s does not load\n", path);
			abort();
		}
	}
	log_init(!fuzz_log ? 0 : 1, fuzz_log);
	assert((fuzz_base = event_base_new()) != NULL);
	memset(&m, 0, sizeof(m));
	fuzz_stub_reset(fuzz_base, &m);
	spf_init(fuzz_base);
	dkim_init(fuzz_base);
	assert(dmarc_init(fuzz_base) == 0);
	assert(sender_init(fuzz_base, fuzz_rc[0]->conf) == 0);
	cbv_reconfigure(fuzz_rc[0]->conf);	/* cbv_init's part */
	return 0;
}

/* What the client has read so far of the current reply line. */
struct fuzz_reader {
	char	line[520];
	size_t	len;
	int	cont;		/* the last line was a "-" continuation */
	char	code[3];
	int	tls;		/* 220 to STARTTLS seen: binary from here */
	size_t	total;
};

static void
fuzz_check_line(struct fuzz_reader *r)
{
	const char *l = r->line;

	assert(r->len >= 6 && l[r->len - 2] == '\r');
	assert(l[0] >= '2' && l[0] <= '5' && l[1] >= '0' && l[1] <= '5' &&
	    l[2] >= '0' && l[2] <= '9');
	assert(l[3] == ' ' || l[3] == '-');
	assert(memchr(l, '\r', r->len - 2) == NULL);
	if (r->cont)
		assert(memcmp(r->code, l, 3) == 0);
	memcpy(r->code, l, 3);
	r->cont = l[3] == '-';
	if (r->len == 31 && memcmp(l, "220 2.0.0 Ready to start TLS\r\n",
	    31) == 0)
		r->tls = 1;
	/* RFC 5321 §6.1: 250 only for a message the commit made durable */
	if (r->len > 24 && memcmp(l, "250 2.0.0 Ok: queued as ", 24) == 0)
		assert(fuzz_stub_committed(l + 24, r->len - 26));
}

static void
fuzz_read(int fd, struct fuzz_reader *r)
{
	char buf[4096];
	ssize_t n, i;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		r->total += (size_t)n;
		for (i = 0; i < n && !r->tls; i++) {
			/* RFC 5321 §4.5.3.1.5: 512 octets with the CRLF */
			assert(r->len < 512);
			r->line[r->len++] = buf[i];
			if (buf[i] == '\n') {
				fuzz_check_line(r);
				r->len = 0;
			}
		}
	}
}

/* fuzz_session_new - what server.c's accept path does, from a client
 * address chosen by the input (the socket itself is a socketpair). */
static struct session *
fuzz_session_new(struct server *srv, int fd, uint8_t how)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	static const char *const v4[] = { "192.0.2.1", "192.0.2.2",
	    "127.0.0.1" };
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (((how >> 2) & 3) == 3) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
		inet_pton(AF_INET6, "2001:db8::25", &sin6->sin6_addr);
		len = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		inet_pton(AF_INET, v4[(how >> 2) & 3], &sin->sin_addr);
		len = sizeof(*sin);
	}
	return session_new(srv, fd, (struct sockaddr *)&ss, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct server srv;
	struct fuzz_modes m;
	struct fuzz_reader rd;
	struct session *s;
	size_t cut[5], nchunks, chunk = 0, off, i;
	unsigned steps, fires = 0, seed, sigterm_step;
	int sv[2], shut = 0, early, lockstep;

	if (size < 3)
		return 0;
	memset(&m, 0, sizeof(m));
	m.dns_tempfail = data[1] & 1;
	m.disk = (enum fuzz_disk)((data[1] >> 1) & 3);
	m.cbv_default = (data[1] >> 3) & 7;
	m.cbv_sync = (data[1] >> 6) & 1;
	m.log = fuzz_log;
	early = data[1] >> 7 || (data[2] >> 7);
	sigterm_step = data[2] & 0x40 ? 4 + 3 * (data[2] & 0x1f) : UINT_MAX;
	fuzz_stub_reset(fuzz_base, &m);

	/* chunk k is data[cut[k] .. cut[k + 1]); lockstep: one line a step */
	lockstep = data[2] >> 7;
	nchunks = lockstep ? 1 : 1 + (data[2] & 3);
	seed = data[2];
	cut[0] = 3;
	for (i = 1; i < nchunks; i++) {
		seed = seed * 1103515245u + 12345u;
		cut[i] = cut[i - 1] + (size > cut[i - 1] ?
		    (seed >> 8) % (size - cut[i - 1] + 1) : 0);
	}
	cut[nchunks] = size;
	off = cut[0];

	memset(&srv, 0, sizeof(srv));
	srv.base = fuzz_base;
	srv.rc = fuzz_rc[data[0] & 3];
	TAILQ_INIT(&srv.sessions);
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == 0);
	s = fuzz_session_new(&srv, sv[0], data[0]);
	if (s == NULL) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	TAILQ_INSERT_TAIL(&srv.sessions, s, entry);
	srv.nsessions++;

	memset(&rd, 0, sizeof(rd));
	for (steps = 0; steps < FUZZ_STEPS && srv.nsessions > 0; steps++) {
		for (i = 0; i < 3; i++)
			event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
		fuzz_read(sv[1], &rd);
		if (srv.nsessions == 0)
			break;
		if (steps == sigterm_step)	/* what server_stop does */
			session_shutdown(TAILQ_FIRST(&srv.sessions));
		if (fuzz_stub_pending() > 0 && (early || chunk == nchunks)) {
			fuzz_stub_deliver();
			continue;
		}
		if (chunk < nchunks) {
			size_t end = cut[chunk + 1];
			ssize_t n = 0;

			if (lockstep) {
				/* one line, then wait for its reply */
				const uint8_t *lf = memchr(data + off, '\n',
				    end - off);

				if (lf != NULL)
					end = (size_t)(lf - data) + 1;
			}
			if (off < end)
				n = write(sv[1], data + off, end - off);
			if (n > 0)
				off += (size_t)n;
			if (off >= cut[chunk + 1])
				chunk++;
			continue;
		}
		if (!shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
			continue;
		}
		if (fires++ >= FUZZ_TIMER_FIRES)
			break;
		/* nothing left to happen: the session's timeout elapses */
		event_active(TAILQ_FIRST(&srv.sessions)->timer, EV_TIMEOUT, 1);
	}
	if (srv.nsessions > 0)
		session_free(TAILQ_FIRST(&srv.sessions));
	assert(srv.nsessions == 0 && TAILQ_EMPTY(&srv.sessions));
	/* Only detached commits may outlive the session; let them end. */
	for (i = 0; i < 4 && fuzz_stub_pending() > 0; i++) {
		fuzz_stub_deliver();
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	}
	assert(fuzz_stub_pending() == 0);
	assert(fuzz_stub_open_msgs() == 0);
	for (i = 0; i < 3; i++)
		event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	close(sv[1]);
	return 0;
}
