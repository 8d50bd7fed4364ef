/*
 * The C oracle as a process: orc_batch() over stdin and stdout, one line
 * at a time.  The sanitizer build runs this way, so that LeakSanitizer
 * looks at the oracle alone (not at a Python interpreter) when it exits.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

const char *orc_batch(const char *text, size_t *len);

int main(void)
{
	char *line = NULL;
	size_t cap = 0, len;
	while (getline(&line, &cap, stdin) > 0) {
		const char *answer = orc_batch(line, &len);
		fwrite(answer, 1, len, stdout);
		fflush(stdout); /* LeakSanitizer ends the process with _exit */
	}
	free(line);
	return 0;
}
