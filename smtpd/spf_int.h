/* spf_int.h - what spf.c (check lifecycle, records, explanation) and
 * spf_mechanism.c (mechanisms, PTR validation) share; private to the two. */
#ifndef SPF_INT_H
#define SPF_INT_H

#include <sys/socket.h>

struct event;

#include "resolver.h"
#include "spf.h"
#include "spf_macro.h"
#include "spf_record.h"

#define SPF_DNS_TERMS_MAX	10	/* §4.6.4 */
#define SPF_VOID_MAX		2	/* §4.6.4 */
#define SPF_NAMES_MAX		10	/* MX and PTR names per term, §4.6.4 */
/* Each include costs a DNS term, so frames nest at most 11 deep. */
#define SPF_DEPTH_MAX		(SPF_DNS_TERMS_MAX + 2)

/* One record being evaluated: check_host() for one <domain>. */
struct spf_frame {
	char			 domain[SPF_MACRO_DOMAIN_SIZE];
	char			*text;		/* the record, owned */
	struct spf_record	 rec;
	int			 parsed;
	int			 redirected;	/* reached through redirect= */
	size_t			 next;		/* next term */
	const struct spf_term	*cur;		/* term waiting on DNS */
};

/* One query in flight; slots[] index = position in a parallel batch. */
struct spf_slot {
	struct spf_check	*c;
	struct resolver_query	*q;
	enum resolver_status	 st;
	int			 match;
	int			 truncated;
};

/* What to do once the PTR names are validated (%{p} or ptr). */
enum spf_resume {
	SPF_RESUME_TERM,
	SPF_RESUME_REDIRECT,
	SPF_RESUME_EXP,
	SPF_RESUME_EXPTEXT,
};

struct spf_check {
	struct spf_args		 a;
	struct sockaddr_storage	 ip;		/* the client, unmapped */
	char			 local[SMTP_PATH_MAX + 1];
	const char		*sdomain;	/* into a.sender */
	spf_done_fn		*fn;
	void			*arg;
	struct event		*ev_defer;	/* start, and the final call */
	struct event		*ev_deadline;
	unsigned		 timeout;
	double			 t0;
	long long		 now;
	int			 started, finished, in_done, cancelled;
	int			 in_exp;
	struct spf_outcome	 out;
	struct spf_frame	 frames[SPF_DEPTH_MAX];
	int			 depth;
	struct spf_slot		 slots[SPF_NAMES_MAX];
	unsigned		 pending;
	size_t			 nbatch;		/* slots used by a batch */
	/* PTR names of the client and which of them validated (§5.5). */
	int			 ptr_state;	/* 0 none, 1 running, 2 done */
	enum spf_resume		 ptr_resume;
	enum resolver_status	 ptr_status;
	char			 ptr_names[SPF_NAMES_MAX][SMTP_DOMAIN_MAX + 1];
	int			 ptr_valid[SPF_NAMES_MAX];
	size_t			 nptr;
	/* The explanation TXT, kept while %{p} is being resolved. */
	char			 exp_txt[RESOLVER_TXT_MAX];
	size_t			 exp_len;
};

/* spf.c */
void	spf_finish(struct spf_check *, enum spf_result, const char *, ...)
	    PRINTF_LIKE(3, 4);
void	spf_frame_done(struct spf_check *, enum spf_result);
void	spf_matched(struct spf_check *, const struct spf_term *);
void	spf_push(struct spf_check *, const char *, int);
void	spf_redirect(struct spf_check *);
void	spf_exp_start(struct spf_check *);
void	spf_exp_text(struct spf_check *);
void	spf_vars(const struct spf_check *, const struct spf_frame *,
	    struct spf_macro_vars *);
int	spf_submit(struct spf_check *, size_t, int, const char *,
	    resolver_fn *);
const char *spf_dns_problem(char *, size_t, const struct spf_slot *,
	    const char *, const char *);

/* spf_mechanism.c */
void	spf_run(struct spf_check *);
void	spf_term_resume(struct spf_check *);
int	spf_ptr_needed(struct spf_check *, enum spf_resume);
int	spf_void(struct spf_check *);
const char *spf_ptr_pick(const struct spf_check *, const char *);

enum { SPF_Q_A, SPF_Q_AAAA, SPF_Q_MX, SPF_Q_TXT, SPF_Q_PTR };

#endif
