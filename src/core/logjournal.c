/* logjournal.c - the systemd journal as the log's output (logjournal.h). */
#include "core/logjournal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

FILE *log_journal_open(char *err, size_t cap) {
  int fd = sd_journal_stream_fd("dto", LOG_INFO, 1);
  if (fd < 0) {
    snprintf(err, cap, "cannot connect to the systemd journal: %s",
             strerror(-fd));
    return NULL;
  }
  FILE *f = fdopen(fd, "a");
  if (!f) {
    snprintf(err, cap, "cannot use the systemd journal: %s", strerror(errno));
    close(fd);
  }
  return f;
}
