/* logjournal.h - the systemd journal as the log's output.
 *
 * Apart from log.h on purpose: <systemd/sd-journal.h> brings <syslog.h>,
 * whose LOG_INFO and friends are macros that would replace log.h's level
 * names in any file that sees both.
 */
#ifndef DTO_CORE_LOGJOURNAL_H
#define DTO_CORE_LOGJOURNAL_H

#include <stdio.h>

/* A stream to the journal (identifier "dto") whose lines start with their
 * syslog priority, "<6>...", as log_set_priority_prefix() writes them;
 * NULL with the reason in err when the journal cannot be reached. */
FILE *log_journal_open(char *err, size_t cap);

#endif
