/* ctl.h - the control channel: `dto ctl` over a Unix-domain socket.
 *
 * `dto run` listens on a socket file (run.ctl_socket, default dto.sock in
 * the state folder) and turns each request line into an svc_cmd for the
 * one command path (svc_submit), or answers "status" from the current read
 * snapshot.  The wire format is one JSON object per line each way (UTF-8,
 * '\n' terminated; ctl_parse below lists the fields):
 *
 *   -> {"cmd":"cancel_all","strategy":"orb_1","reason":"news","id":"a1"}
 *   <- {"id":"a1","ok":true,"result":{"message":"...","count":3}}
 *   <- {"id":"a1","ok":false,"error":{"code":"bad_request",
 *                                     "message":"...","field":"strategy"}}
 *
 * Who may talk to it: the socket file is created with mode 0600 (only its
 * owner can connect), and each peer's credentials (SO_PEERCRED) must also
 * be the server's effective uid or root; anyone else is answered
 * "forbidden" and closed.  Every input is bounded: a request line of at
 * most CTL_LINE_MAX bytes (longer: "too_large" and the connection is
 * closed), at most CTL_CLIENTS_MAX clients at once (more: "busy" and
 * closed), CTL_IDLE_SEC seconds of silence before a client is closed.
 *
 * Not for: executing commands (the engine thread does, through svc), the
 * HTTP API, or anything a person reads without `dto ctl` in between.
 */
#ifndef DTO_APP_CTL_H
#define DTO_APP_CTL_H

#include "app/config.h"
#include "app/svc.h"
#include "core/buf.h"
#include "core/prelude.h"

#define CTL_LINE_MAX (64 * 1024) /* bytes of one request line, without '\n' */
#define CTL_CLIENTS_MAX 16       /* connections served at once */
#define CTL_IDLE_SEC 30          /* a silent client is closed after this */
#define CTL_SUBMIT_SEC 10        /* how long a command waits for the engine */
#define CTL_ANSWER_MAX (64u * 1024 * 1024) /* bytes of one answer line */

typedef struct ctl_server ctl_server;

/* Listen on the socket file path and serve clients on threads of our own
 * (one accepting thread, one thread per client, at most CTL_CLIENTS_MAX).
 * The file is created fresh with mode 0600: a socket file that nobody
 * listens on any more (left by a dead process) is replaced; a path that
 * exists and is not a socket, or a socket another process still listens
 * on, is refused.  The parent folder must exist.  s must outlive the
 * server.  Returns 0 and *out (stop and free it with ctl_stop), or
 * DTO_EINVAL (path empty or longer than a socket address holds), DTO_EEXIST
 * (the path is in use) or DTO_EIO, with a one-line message for the
 * operator in err. */
int ctl_start(const char *path, svc *s, ctl_server **out, char *err,
              size_t cap);

/* Requests the engine does not carry out (the monitor's alerts): fn gets
 * each request line first, with the peer's "ctl uid=... pid=..." name,
 * and returns true when it answered it into out (a whole answer line).
 * Set once, any time after ctl_start; NULL removes it. */
typedef bool (*ctl_extra_fn)(void *ctx, const char *line, size_t n,
                             const char *who, dbuf *out);
void ctl_set_extra(ctl_server *c, ctl_extra_fn fn, void *ctx);

/* Stop serving: wake and join every thread, close every connection, and
 * remove the socket file if it is still the one ctl_start made.  A client
 * in the middle of a command is answered first, so this may wait up to
 * CTL_SUBMIT_SEC seconds.  ctl_stop(NULL) does nothing. */
void ctl_stop(ctl_server *c);

/* Parse one request line (n bytes, need not be NUL-terminated; a trailing
 * "\n" or "\r\n" is allowed) into *cmd.  No I/O; exposed for tests and the
 * fuzzer.
 *
 * A request is one JSON object.  "cmd" (an svc_op_name) is required; "id"
 * (a string of at most SVC_NAME_MAX - 1 bytes, echoed in the answer) and
 * "reason" (free text for the journal) are allowed with every command.
 * The other fields, all strings (order may also be a positive integer):
 *   cancel                order (required)
 *   cancel_all, flatten   account, strategy, symbol (optional filters)
 *   pause, resume         strategy (required)
 *   set_limit             limit, value (required; value is a decimal or
 *                         "off", always as a string), and account or
 *                         strategy (optional, not both)
 *   status, kill, release, maintenance_on, maintenance_off, reload, stop:
 *                         none.
 * Refused, naming the field: an unknown field or one the command does not
 * take, a wrong JSON type, a missing required field, a string longer than
 * its svc_cmd field, an empty string (an empty filter would mean "all"),
 * control characters.  Refused as a whole (field ""): malformed JSON (with
 * jansson's column), a value that is not an object, duplicate keys, a NUL
 * byte in the line.  cmd->who is left empty (the server fills it).  The
 * request's "id", when it has a valid one, goes into id (idcap bytes, at least
 * SVC_NAME_MAX) even when the request is otherwise bad, so that the
 * answer can name it; "" when it has none.  Returns 0, or DTO_EINVAL with
 * *ans set to SVC_BAD_REQUEST, ans->field naming the field at fault ("" for
 * the line as a whole) and a message that starts with it. */
int ctl_parse(const char *line, size_t n, svc_cmd *cmd, svc_answer *ans,
              char *id, size_t idcap);

/* The answer line for ans to request id ("" for none), '\n' included,
 * appended to b: {"id":...,"ok":true,"result":{"message","count"}} or
 * {"id":...,"ok":false,"error":{"code","message","field"}}.  Text that is
 * not valid UTF-8 is repaired, so the line is always valid JSON. */
void ctl_answer_json(const char *id, const svc_answer *ans, dbuf *b);

/* Client side, for `dto ctl`: connect to path, send the n bytes of line
 * (one request, '\n' included), and read one answer line into b (without
 * its '\n'), all within timeout_ns.  Returns 0; DTO_EIO when the socket
 * cannot be reached (err says why: no such file, nobody listening,
 * permission); DTO_EAGAIN on timeout; DTO_ETOOBIG when the answer passes
 * b's cap; DTO_EPARSE when the server closed before a whole line. */
int ctl_call(const char *path, const char *line, size_t n, dbuf *b,
             int64_t timeout_ns, char *err, size_t cap);

/* The socket path of cfg into buf: run.ctl_socket when the configuration
 * names one, else "<state folder>/dto.sock" (see state_dir). */
void ctl_default_path(const dto_config *cfg, char *buf, size_t cap);

#endif
