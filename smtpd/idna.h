/* idna.h - domain names as DNS sees them: U-labels converted to A-labels
 * (IDNA2008 with UTS #46 non-transitional mapping, through libidn2). */
#ifndef IDNA_H
#define IDNA_H

#include <stddef.h>

int	idna_to_alabel(const char *, char *, size_t);
int	idna_to_alabel_why(const char *, char *, size_t, const char **);
int	idna_is_ascii(const char *);

#endif
