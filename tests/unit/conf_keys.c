/* conf_keys.c - print conf.c's key table as "key<TAB>default" lines, for
 * tests/conf_doc.sh, which compares them with strictmx.conf(5).
 *
 *	main - print the table to stdout; exit 0, or 1 on a write error
 */
#include <stdio.h>

#include "conf.h"

int
main(void)
{
	const struct conf_keyinfo *k;
	size_t n, i;

	k = conf_keys(&n);
	for (i = 0; i < n; i++)
		printf("%s\t%s\n", k[i].key, k[i].def);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
