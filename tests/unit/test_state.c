/* test_state.c - the run state file (the kill switch), the pid file and the
 * single-instance lock of `dto run`.
 *
 * The state file fails closed: only a missing file means released; empty,
 * truncated, garbage, oversized or non-regular files mean engaged, with a
 * message naming the file.  Expected texts are written out by hand.  The
 * lock is checked across processes with fork(): a second process is
 * refused and told the holder's pid; a holder that dies leaves no stale
 * lock behind. */
#include "core/prelude.h"

#include "app/state.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct fixture {
  char dir[64];
  char file[128]; /* dir/dto.state */
} fixture;

static int setup(void **state) {
  fixture *F = calloc(1, sizeof *F);
  snprintf(F->dir, sizeof F->dir, "/tmp/dto_test_state_XXXXXX");
  if (!mkdtemp(F->dir))
    return -1;
  snprintf(F->file, sizeof F->file, "%s/dto.state", F->dir);
  *state = F;
  return 0;
}

static int teardown(void **state) {
  fixture *F = *state;
  static const char *const names[] = {"dto.state", "dto.pid", "dto.lock"};
  char p[192];
  for (size_t i = 0; i < DTO_ARRAY_LEN(names); i++) {
    snprintf(p, sizeof p, "%s/%s", F->dir, names[i]);
    unlink(p);
    rmdir(p); /* a test may have made one a folder */
  }
  rmdir(F->dir);
  free(F);
  return 0;
}

static void put_file(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  fclose(f);
}

/* Read dir's state from a file holding text (n bytes). */
static int read_text(const fixture *F, const char *text, size_t n,
                     run_state *st, char *err, size_t cap) {
  put_file(F->file, text, n);
  return state_read(F->dir, st, err, cap);
}

static void test_missing_is_released(void **state) {
  fixture *F = *state;
  run_state st;
  char err[512] = "";
  memset(&st, 0xff, sizeof st);
  assert_int_equal(state_read(F->dir, &st, err, sizeof err), 0);
  assert_false(st.killed);
  assert_string_equal(st.by, "");
  /* a state folder that does not exist yet: the very first start */
  char sub[128];
  snprintf(sub, sizeof sub, "%s/not-yet", F->dir);
  assert_int_equal(state_read(sub, &st, err, sizeof err), 0);
  assert_false(st.killed);
}

static void test_valid_files(void **state) {
  fixture *F = *state;
  run_state st;
  char err[512];
  const char *on = "# comment\nkill_switch=1\nby=alice\n"
                   "at=2025-01-06T14:30:00Z\nreason=fat finger\n";
  assert_int_equal(read_text(F, on, strlen(on), &st, err, sizeof err), 0);
  assert_true(st.killed);
  assert_string_equal(st.by, "alice");
  assert_string_equal(st.at, "2025-01-06T14:30:00Z");
  assert_string_equal(st.reason, "fat finger");

  const char *off = "kill_switch=0\r\n\r\nnext_key=from a newer dto\r\n";
  assert_int_equal(read_text(F, off, strlen(off), &st, err, sizeof err), 0);
  assert_false(st.killed);
  assert_string_equal(st.by, "");

  /* A value longer than its field is cut, not an error. */
  char longv[400];
  int n = snprintf(longv, sizeof longv, "kill_switch=1\nby=%0200d\n", 7);
  assert_int_equal(read_text(F, longv, (size_t)n, &st, err, sizeof err), 0);
  assert_int_equal(strlen(st.by), sizeof st.by - 1);
}

/* Every damaged file: the code, the exact message, and engaged. */
static void test_damaged_fails_closed(void **state) {
  fixture *F = *state;
  static const struct {
    const char *text;
    size_t len;      /* 0: strlen */
    const char *msg; /* after "PATH" */
  } bad[] = {
      {"", 0, ": empty file"},
      {"kill_switch=0\nby=al", 0, ": truncated (the last line has no end)"},
      {"# dto run state; wri", 0, ": truncated (the last line has no end)"},
      {"# dto run state; written by dto\n", 0,
       ": no kill_switch line (truncated or damaged)"},
      {"by=alice\nat=2025-01-06\n", 0,
       ": no kill_switch line (truncated or damaged)"},
      {"kill_switch=0\0\0\0\n", 17, ":1: not a state file (byte 0x00)"},
      {"kill_switch=0\n\x89PNG\n", 0, ":2: not a state file (byte 0x89)"},
      {"hello world\n", 0, ":1: expected key=value"},
      {"kill_switch=yes\n", 0, ":1: kill_switch must be 0 or 1"},
      {"kill_switch=\n", 0, ":1: kill_switch must be 0 or 1"},
      {"kill_switch=10\n", 0, ":1: kill_switch must be 0 or 1"},
      {"kill_switch=0\nkill_switch=0\n", 0, ":2: a second kill_switch line"},
  };
  for (size_t i = 0; i < DTO_ARRAY_LEN(bad); i++) {
    size_t n = bad[i].len ? bad[i].len : strlen(bad[i].text);
    run_state st;
    char err[512], want[512];
    memset(&st, 0, sizeof st);
    int rc = read_text(F, bad[i].text, n, &st, err, sizeof err);
    snprintf(want, sizeof want, "%s%s", F->file, bad[i].msg);
    if (rc != DTO_EPARSE || strcmp(err, want))
      fail_msg("case %zu: got %s '%s', want '%s'", i, dto_errname(rc), err,
               want);
    assert_true(st.killed);
    assert_string_equal(st.by, "");
  }
}

static void test_oversized(void **state) {
  fixture *F = *state;
  /* 5000 bytes of a valid file: comments, then the switch released. */
  char big[5100];
  size_t n = 0;
  while (n < 5000)
    n += (size_t)snprintf(big + n, sizeof big - n, "# padding padding\n");
  n += (size_t)snprintf(big + n, sizeof big - n, "kill_switch=0\n");
  run_state st;
  char err[512], want[512];
  assert_int_equal(read_text(F, big, n, &st, err, sizeof err), DTO_ETOOBIG);
  snprintf(want, sizeof want, "%s: larger than 4096 bytes", F->file);
  assert_string_equal(err, want);
  assert_true(st.killed);
  /* The parser alone refuses it too. */
  assert_int_equal(state_parse("x", big, n, &st, err, sizeof err), DTO_EPARSE);
  assert_true(st.killed);
}

static void test_not_regular(void **state) {
  fixture *F = *state;
  run_state st;
  char err[512], want[512];
  /* A FIFO: refused at once (a blocking open would hang here: SIGALRM
   * ends the program then, failing it). */
  assert_int_equal(mkfifo(F->file, 0600), 0);
  alarm(10);
  assert_int_equal(state_read(F->dir, &st, err, sizeof err), DTO_EINVAL);
  alarm(0);
  snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", F->file);
  assert_string_equal(err, want);
  assert_true(st.killed);
  assert_int_equal(unlink(F->file), 0);
  /* A folder. */
  assert_int_equal(mkdir(F->file, 0700), 0);
  assert_int_equal(state_read(F->dir, &st, err, sizeof err), DTO_EINVAL);
  snprintf(want, sizeof want, "%s: not a regular file (a folder)", F->file);
  assert_string_equal(err, want);
  assert_true(st.killed);
  assert_int_equal(rmdir(F->file), 0);
}

static void test_write_and_read_back(void **state) {
  fixture *F = *state;
  char sub[128], err[512];
  snprintf(sub, sizeof sub, "%s/var", F->dir);
  run_state st = {.killed = true};
  snprintf(st.by, sizeof st.by, "bob");
  snprintf(st.at, sizeof st.at, "2025-01-06T14:30:00Z");
  snprintf(st.reason, sizeof st.reason, "line\none\ttwo"); /* cleaned */
  assert_int_equal(state_write(sub, &st, err, sizeof err), 0);
  char path[192];
  snprintf(path, sizeof path, "%s/dto.state", sub);
  struct stat s;
  assert_int_equal(stat(path, &s), 0);
  assert_int_equal(s.st_mode & 0777, 0600);
  assert_int_equal(stat(sub, &s), 0);
  assert_int_equal(s.st_mode & 0777, 0700);
  /* The exact text, by hand. */
  char buf[1024];
  FILE *f = fopen(path, "rb");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  assert_string_equal(buf,
                      "# dto run state; written by dto, change with 'dto "
                      "kill'\nkill_switch=1\nby=bob\nat=2025-01-06T14:30:00Z\n"
                      "reason=lineonetwo\n");
  run_state back;
  assert_int_equal(state_read(sub, &back, err, sizeof err), 0);
  assert_true(back.killed);
  assert_string_equal(back.by, "bob");
  assert_string_equal(back.reason, "lineonetwo");
  /* Released, written over it; nothing else is left in the folder. */
  st.killed = false;
  assert_int_equal(state_write(sub, &st, err, sizeof err), 0);
  assert_int_equal(state_read(sub, &back, err, sizeof err), 0);
  assert_false(back.killed);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(sub), 0); /* fails if a temporary file is left */
}

static void test_pid_file(void **state) {
  fixture *F = *state;
  char err[512], path[192], buf[64], want[64];
  assert_int_equal(state_pid_write(F->dir, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/dto.pid", F->dir);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  snprintf(want, sizeof want, "%ld\n", (long)getpid());
  assert_string_equal(buf, want);
  state_pid_remove(F->dir);
  assert_int_equal(access(path, F_OK), -1);
}

/* ---- the lock ---------------------------------------------------------- */

static void write_byte(int fd) {
  char c = 'x';
  assert_int_equal(write(fd, &c, 1), 1);
}

static bool read_byte(int fd) {
  char c;
  ssize_t k;
  do
    k = read(fd, &c, 1);
  while (k < 0 && errno == EINTR);
  return k == 1;
}

/* The exit status of child pid: 0 when every check in it held. */
static int child_status(pid_t pid) {
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static void test_lock_refuses_second_process(void **state) {
  fixture *F = *state;
  int fd;
  char err[512];
  assert_int_equal(state_lock(F->dir, &fd, err, sizeof err), 0);
  assert_true(fd >= 0);
  char path[192];
  snprintf(path, sizeof path, "%s/dto.lock", F->dir);
  struct stat s;
  assert_int_equal(stat(path, &s), 0);
  assert_int_equal(s.st_mode & 0777, 0600);

  long me = (long)getpid();
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(20); /* bounded, whatever happens */
    int cfd, bad = 0;
    char e[512], want[512];
    int rc = state_lock(F->dir, &cfd, e, sizeof e);
    snprintf(want, sizeof want,
             "another dto (pid %ld) is running with the state folder %s "
             "(it holds %s)",
             me, F->dir, path);
    bad |= (rc != DTO_EBUSY) << 0;
    bad |= (strcmp(e, want) != 0) << 1;
    bad |= (cfd != -1) << 2;
    long holder = -1;
    bad |= (state_lock_holder(F->dir, &holder, e, sizeof e) != 0) << 3;
    bad |= (holder != me) << 4;
    _exit(bad);
  }
  assert_int_equal(child_status(pid), 0);

  /* The lock file holds our pid, for people. */
  char buf[64], want[64];
  FILE *f = fopen(path, "rb");
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f); /* closing a descriptor of dto.lock drops our POSIX lock: */
  buf[n] = '\0';
  snprintf(want, sizeof want, "%ld\n", me);
  assert_string_equal(buf, want);
  state_unlock(fd); /* ... so this is only the tidy-up */

  /* Released: nobody holds it, and a new process gets it. */
  long holder = -1;
  assert_int_equal(state_lock_holder(F->dir, &holder, err, sizeof err), 0);
  assert_int_equal(holder, 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(20);
    int cfd;
    char e[512];
    _exit(state_lock(F->dir, &cfd, e, sizeof e) == 0 ? 0 : 1);
  }
  assert_int_equal(child_status(pid), 0);
}

/* A holder that dies (SIGKILL) leaves its pid in the file but no lock: the
 * next process gets the lock and `dto kill` finds nobody to signal. */
static void test_lock_dies_with_holder(void **state) {
  fixture *F = *state;
  int ready[2], go[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(go), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    alarm(20);
    close(ready[0]);
    close(go[1]);
    int fd;
    char e[512];
    if (state_lock(F->dir, &fd, e, sizeof e) != 0)
      _exit(1);
    write_byte(ready[1]);
    read_byte(go[0]); /* returns at EOF too, if the parent goes away */
    _exit(0);
  }
  close(ready[1]);
  close(go[0]);
  assert_true(read_byte(ready[0]));

  int fd;
  char err[512], want[512], path[192];
  snprintf(path, sizeof path, "%s/dto.lock", F->dir);
  assert_int_equal(state_lock(F->dir, &fd, err, sizeof err), DTO_EBUSY);
  snprintf(want, sizeof want,
           "another dto (pid %ld) is running with the state folder %s (it "
           "holds %s)",
           (long)pid, F->dir, path);
  assert_string_equal(err, want);
  long holder = 0;
  assert_int_equal(state_lock_holder(F->dir, &holder, err, sizeof err), 0);
  assert_int_equal(holder, (long)pid);

  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(child_status(pid), 100 + SIGKILL);
  close(ready[0]);
  close(go[1]);
  /* The child's pid is still written in the file, but nobody holds it. */
  assert_int_equal(state_lock_holder(F->dir, &holder, err, sizeof err), 0);
  assert_int_equal(holder, 0);
  assert_int_equal(state_lock(F->dir, &fd, err, sizeof err), 0);
  state_unlock(fd);
  state_unlock(-1); /* nothing */
}

static void test_lock_file_not_regular(void **state) {
  fixture *F = *state;
  char path[192], err[512], want[512];
  snprintf(path, sizeof path, "%s/dto.lock", F->dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  alarm(10);
  int fd;
  assert_int_equal(state_lock(F->dir, &fd, err, sizeof err), DTO_EINVAL);
  assert_int_equal(fd, -1);
  snprintf(want, sizeof want, "%s: not a regular file", path);
  assert_string_equal(err, want);
  long holder;
  assert_int_equal(state_lock_holder(F->dir, &holder, err, sizeof err),
                   DTO_EINVAL);
  snprintf(want, sizeof want, "%s: not a regular file (a FIFO)", path);
  assert_string_equal(err, want);
  alarm(0);
  assert_int_equal(unlink(path), 0);
  /* No lock file at all: nobody runs. */
  assert_int_equal(state_lock_holder(F->dir, &holder, err, sizeof err), 0);
  assert_int_equal(holder, 0);
}

/* state_format and state_parse agree (the fuzz harness checks this for
 * arbitrary input; here the plain cases). */
static void test_format_parse(void **state) {
  (void)state;
  run_state st = {.killed = true}, back;
  snprintf(st.by, sizeof st.by, "uid 1000");
  char buf[512], err[256];
  size_t n = state_format(&st, buf, sizeof buf);
  assert_true(n > 0);
  assert_int_equal(state_parse("s", buf, n, &back, err, sizeof err), 0);
  assert_true(back.killed);
  assert_string_equal(back.by, "uid 1000");
  assert_int_equal(state_format(&st, buf, 10), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_missing_is_released, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_valid_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_damaged_fails_closed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_and_read_back, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pid_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lock_refuses_second_process, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_lock_dies_with_holder, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_lock_file_not_regular, setup,
                                      teardown),
      cmocka_unit_test(test_format_parse),
  };
  return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
