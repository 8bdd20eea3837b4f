/*
 * http_answer_test.c - the one-answer rule of src/http.h: the check itself,
 * the bookkeeping of late answers (http_pending_t) across a request's
 * disposal in a real h2o memory pool, and its enforcement: a second answer
 * or a request ended unanswered aborts a Debug build with a log line naming
 * the route (in a forked child), or is dropped and counted in Release.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "metrics.h"

#include "check.h"

static const char *const test_routes[] = {"healthz", "consent_post"};

static int first_answer_is_ok_and_any_later_one_is_twice(void)
{
    http_request_t rq = {0};
    CHECK(http_answer_check(&rq, 0) == HTTP_ANSWER_OK);
    rq.answered = 1;
    CHECK(http_answer_check(&rq, 0) == HTTP_ANSWER_TWICE);
    rq.answered = 2;
    CHECK(http_answer_check(&rq, 0) == HTTP_ANSWER_TWICE);
    return 0;
}

static int disposal_is_ok_answered_none_unanswered_abandoned_while_awaited(void)
{
    http_request_t rq = {0};
    CHECK(http_answer_check(&rq, 1) == HTTP_ANSWER_NONE);
    rq.pending = 1;
    CHECK(http_answer_check(&rq, 1) == HTTP_ANSWER_ABANDONED);
    rq.answered = 1;
    CHECK(http_answer_check(&rq, 1) == HTTP_ANSWER_OK);
    rq.pending = 0;
    CHECK(http_answer_check(&rq, 1) == HTTP_ANSWER_OK);
    return 0;
}

/* A request in a real h2o pool: its worker holds a snapshot the pending
 * records retain (refs kept above 1: never freed here). */
typedef struct {
    h2o_req_t req;
    worker_t worker;
    snapshot_t snap;
    http_request_t rq;
} fake_request_t;

static void fake_request_init(fake_request_t *f)
{
    memset(f, 0, sizeof(*f));
    h2o_mem_init_pool(&f->req.pool);
    f->snap.refs = 1;
    f->worker.snap = &f->snap;
    f->rq.req = &f->req;
    f->rq.worker = &f->worker;
    f->rq.route = 1;
}

static int a_late_answer_awaited_counts_until_freed(void)
{
    fake_request_t f;
    fake_request_init(&f);
    http_pending_t *a = http_pending_new(&f.rq, 0), *b = http_pending_new(&f.rq, 8);
    CHECK(a != NULL && b != NULL);
    CHECK(f.rq.pending == 2);
    http_pending_free(a);
    CHECK(f.rq.pending == 1);
    CHECK(http_answer_check(&f.rq, 1) == HTTP_ANSWER_ABANDONED);
    http_pending_free(b);
    CHECK(f.rq.pending == 0);
    /* Freed before anyone answered, the request still there: a bug. */
    CHECK(http_answer_check(&f.rq, 1) == HTTP_ANSWER_NONE);
    CHECK(f.snap.refs == 1);
    h2o_mem_clear_pool(&f.req.pool);
    return 0;
}

static int a_request_disposed_while_awaited_is_abandoned_and_never_touched_again(void)
{
    fake_request_t f;
    fake_request_init(&f);
    http_pending_t *p = http_pending_new(&f.rq, 0);
    CHECK(p != NULL && f.rq.pending == 1);
    h2o_mem_clear_pool(&f.req.pool); /* h2o disposes the request (client gone) */
    CHECK(http_pending_request(p) == NULL);
    CHECK(http_answer_check(&f.rq, 1) == HTTP_ANSWER_ABANDONED);
    f.rq.pending = 7; /* http_pending_free must not touch the request now */
    http_pending_free(p);
    CHECK(f.rq.pending == 7);
    CHECK(f.snap.refs == 1);
    return 0;
}

/* Runs what in a child whose stderr is captured into out; returns the wait
 * status. */
static int run_child(void (*what)(fake_request_t *), char *out, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fake_request_t f;
        fake_request_init(&f);
        f.worker.metrics = metrics_create();
        what(&f);
        /* Release: the violation was dropped and counted; say how often. */
        uint64_t n = metrics_counter_value(f.worker.metrics, METRICS_ANSWERS_DROPPED) * 10 +
                     metrics_counter_value(f.worker.metrics, METRICS_REQUESTS_UNANSWERED);
        _exit(n > 99 ? 99 : (int)n);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void answer_twice(fake_request_t *f)
{
    f->rq.answered = 1; /* as after http_send_*: a second answer follows */
    http_error(&f->rq, 500, "internal", "second");
    http_send_json(&f->rq, 200, "{}", 2);
    http_storage_error(&f->rq, REDIS_E_DOWN, NULL);
}

static void end_unanswered(fake_request_t *f)
{
    http_request_disposed(&f->rq);
    http_request_disposed(&f->rq);
}

static void end_answered_or_abandoned(fake_request_t *f)
{
    f->rq.pending = 1;
    http_request_disposed(&f->rq); /* abandoned: not a bug */
    f->rq.pending = 0;
    f->rq.answered = 1;
    http_request_disposed(&f->rq);
}

static int a_second_answer_aborts_in_debug_or_is_dropped_and_counted(void)
{
    char err[2048];
    int status = run_child(answer_twice, err, sizeof(err));
    CHECK_HAS(err, "route consent_post: a second answer to one request, dropped");
#ifdef NDEBUG
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 30);
    CHECK(strstr(strstr(err, "dropped") + 1, "second answer") == NULL); /* logged once */
#else
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK_HAS(err, "aborting (Debug build)");
#endif
    return 0;
}

static int a_request_ended_unanswered_aborts_in_debug_or_is_counted(void)
{
    char err[2048];
    int status = run_child(end_unanswered, err, sizeof(err));
    CHECK_HAS(err, "route consent_post: a request ended without an answer");
#ifdef NDEBUG
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
#else
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
#endif
    return 0;
}

static int an_answered_or_abandoned_request_ends_quietly(void)
{
    char err[2048];
    int status = run_child(end_answered_or_abandoned, err, sizeof(err));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_STR(err, "");
    return 0;
}

int main(void)
{
    metrics_set_routes(test_routes, 2);
    RUN(first_answer_is_ok_and_any_later_one_is_twice);
    RUN(disposal_is_ok_answered_none_unanswered_abandoned_while_awaited);
    RUN(a_late_answer_awaited_counts_until_freed);
    RUN(a_request_disposed_while_awaited_is_abandoned_and_never_touched_again);
    RUN(a_second_answer_aborts_in_debug_or_is_dropped_and_counted);
    RUN(a_request_ended_unanswered_aborts_in_debug_or_is_counted);
    RUN(an_answered_or_abandoned_request_ends_quietly);
    return check_summary();
}
