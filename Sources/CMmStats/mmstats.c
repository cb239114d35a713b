#include "mmstats.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int64_t mmstats_gettid(void) { return (int64_t)syscall(SYS_gettid); }

_Thread_local uint32_t mmstats_thread_shard __attribute__((tls_model("initial-exec"))) = 0;

void mmstats_set_current_shard(uint32_t shard) { mmstats_thread_shard = shard; }

const char *mmstats_secure_getenv(const char *name) { return secure_getenv(name); }

int mmstats_rename_noreplace(int old_directory, const char *old_name, int new_directory,
                             const char *new_name) {
    return renameat2(old_directory, old_name, new_directory, new_name, RENAME_NOREPLACE);
}

int mmstats_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) {
            return count;
        }
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

struct mmstats_parallel_start {
    void (*work)(void *context, int index);
    void *context;
    int index;
};

static void *mmstats_parallel_thread(void *argument) {
    struct mmstats_parallel_start *start = argument;
    // Started with every signal blocked; the faults a load can raise are let through (the
    // reader's guard would otherwise unblock SIGBUS around every load: two system calls).
    sigset_t faults;
    sigemptyset(&faults);
    sigaddset(&faults, SIGBUS);
    sigaddset(&faults, SIGSEGV);
    sigaddset(&faults, SIGFPE);
    sigaddset(&faults, SIGILL);
    pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
    start->work(start->context, start->index);
    return NULL;
}

int mmstats_run_parallel(int threads, void (*work)(void *context, int index), void *context) {
    enum { most = 64 };
    if (threads > most) {
        threads = most;
    }
    pthread_t started[most];
    struct mmstats_parallel_start starts[most];
    int running = 0;
    if (threads > 1) {
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved);
        for (int index = 1; index < threads; index++) {
            starts[running] = (struct mmstats_parallel_start){work, context, index};
            if (pthread_create(&started[running], NULL, mmstats_parallel_thread, &starts[running]) == 0) {
                running++;
            }
        }
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    }
    work(context, 0);
    for (int index = 0; index < running; index++) {
        pthread_join(started[index], NULL);
    }
    return running + 1;
}

// SIGBUS guard. A reader maps files that other processes own; if one is truncated, a load
// from the vanished pages raises SIGBUS. The guarded functions below run only C code between
// sigsetjmp and the loads, so the handler can jump back into them and report a fault. Faults
// outside a guard go to the handler that was installed before ours.

// volatile: the handler reads it asynchronously (C11 7.14.1.1).
static _Thread_local sigjmp_buf *volatile mmstats_guard_jump;
// Whether this thread had SIGBUS blocked at its first guarded read (-1: not checked yet). A
// fault on a thread that blocks SIGBUS kills the process whatever the handler, so such threads
// unblock it around each guarded read.
static _Thread_local int mmstats_bus_blocked = -1;
static struct sigaction mmstats_previous_bus;
static pthread_once_t mmstats_guard_once = PTHREAD_ONCE_INIT;

static void mmstats_bus_handler(int signal_number, siginfo_t *info, void *context) {
    sigjmp_buf *jump = mmstats_guard_jump;
    // Only faults the kernel raised for a load (si_code > 0) are ours; a SIGBUS sent with kill()
    // goes on to the previous disposition.
    if (jump != NULL && info != NULL && info->si_code > 0) {
        mmstats_guard_jump = NULL;
        siglongjmp(*jump, 1);
    }
    if (mmstats_previous_bus.sa_flags & SA_SIGINFO) {
        if (mmstats_previous_bus.sa_sigaction != NULL) {
            mmstats_previous_bus.sa_sigaction(signal_number, info, context);
            return;
        }
    } else if (mmstats_previous_bus.sa_handler != SIG_DFL && mmstats_previous_bus.sa_handler != SIG_IGN) {
        mmstats_previous_bus.sa_handler(signal_number);
        return;
    }
    // Default action: restore it; a faulting load runs again and terminates, a signal that was
    // sent is raised again so that it is not lost.
    signal(signal_number, SIG_DFL);
    if (info == NULL || info->si_code <= 0) {
        raise(signal_number);
    }
}

static void mmstats_install_guard(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = mmstats_bus_handler;
    // SA_NODEFER: SIGBUS stays unblocked after we jump out of the handler.
    action.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &mmstats_previous_bus);
}

static int mmstats_thread_blocks_bus(void) {
    if (mmstats_bus_blocked < 0) {
        sigset_t current;
        pthread_sigmask(SIG_SETMASK, NULL, &current);
        mmstats_bus_blocked = sigismember(&current, SIGBUS) == 1;
    }
    return mmstats_bus_blocked;
}

static void mmstats_unblock_bus(sigset_t *saved) {
    sigset_t bus;
    sigemptyset(&bus);
    sigaddset(&bus, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &bus, saved);
}

// The mask is handled before sigsetjmp, so nothing the fault path uses changes after it.
#define MMSTATS_GUARD_BEGIN                                                                         \
    pthread_once(&mmstats_guard_once, mmstats_install_guard);                                       \
    sigset_t saved_mask;                                                                            \
    const int restore_mask = mmstats_thread_blocks_bus();                                           \
    if (restore_mask) {                                                                             \
        mmstats_unblock_bus(&saved_mask);                                                           \
    }                                                                                               \
    sigjmp_buf jump;                                                                                \
    if (sigsetjmp(jump, 0) != 0) {                                                                  \
        if (restore_mask) {                                                                         \
            pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);                                        \
        }                                                                                           \
        return MMSTATS_READ_FAULT;                                                                  \
    }                                                                                               \
    mmstats_guard_jump = &jump;

#define MMSTATS_GUARD_END                                                                           \
    mmstats_guard_jump = NULL;                                                                      \
    if (restore_mask) {                                                                             \
        pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);                                            \
    }

static inline const _Atomic uint64_t *word_at(const void *base, uint64_t offset) {
    return (const _Atomic uint64_t *)((const char *)base + offset);
}

static inline void copy_relaxed(uint64_t *destination, const _Atomic uint64_t *source, uint32_t words) {
    for (uint32_t i = 0; i < words; i++) {
        destination[i] = atomic_load_explicit(&source[i], memory_order_relaxed);
    }
}

// Layout 1: every word with acquire ordering, in address order. A kind whose records keep a
// protocol across words (the stamped slots of windows and meters, docs/FORMAT.md §11.4) needs a
// later word's load not to be satisfied before an earlier one's; on x86 this is the same `mov`.
static inline void copy_acquire(uint64_t *destination, const _Atomic uint64_t *source, uint32_t words) {
    for (uint32_t i = 0; i < words; i++) {
        destination[i] = atomic_load_explicit(&source[i], memory_order_acquire);
    }
}

static inline uint64_t parity(uint64_t sequence, int swapped) {
    return (swapped ? __builtin_bswap64(sequence) : sequence) & 1;
}

uint64_t mmstats_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

// Tests only: called after each attempt's copy, before the check that accepts it.
static void (*volatile mmstats_attempt_hook)(void);

void mmstats_set_attempt_hook(void (*hook)(void)) { mmstats_attempt_hook = hook; }

static inline void attempt_done(void) {
    void (*hook)(void) = mmstats_attempt_hook;
    if (hook != NULL) {
        hook();
    }
}

// Whether a read overtaken `attempt` times must give up: past the count, or past the deadline
// (checked only on retries, so an undisturbed read never looks at the clock).
static inline int give_up(uint32_t attempt, uint32_t max_retries, uint64_t deadline_ns) {
    return attempt > max_retries || (deadline_ns != 0 && mmstats_monotonic_ns() > deadline_ns);
}

int mmstats_read_records(const void *base, uint64_t flip_sequence_offset, int swapped,
                         const mmstats_record_ref *refs, size_t count, uint64_t *output,
                         uint32_t max_retries, uint64_t deadline_ns, size_t *busy_index) {
    MMSTATS_GUARD_BEGIN
    int has_page_flip = 0;
    for (size_t r = 0; r < count; r++) {
        const mmstats_record_ref *ref = &refs[r];
        uint64_t *out = output + ref->output_index;
        switch (ref->layout) {
        case MMSTATS_LAYOUT_WORD:
            copy_acquire(out, word_at(base, ref->offset), ref->words);
            break;
        case MMSTATS_LAYOUT_DOUBLE_BUFFER: {
            const _Atomic uint64_t *seq = word_at(base, ref->offset);
            uint32_t attempt = 0;
            for (;;) {
                uint64_t s1 = atomic_load_explicit(seq, memory_order_acquire);
                copy_relaxed(out, seq + 1 + parity(s1, swapped) * ref->words, ref->words);
                attempt_done();
                atomic_thread_fence(memory_order_acquire);
                uint64_t s2 = atomic_load_explicit(seq, memory_order_relaxed);
                if (s1 == s2) {
                    break;
                }
                if (give_up(++attempt, max_retries, deadline_ns)) {
                    MMSTATS_GUARD_END
                    *busy_index = r;
                    return MMSTATS_READ_BUSY;
                }
            }
            break;
        }
        case MMSTATS_LAYOUT_PAGE_FLIP:
            has_page_flip = 1;
            break;
        default:
            break;
        }
    }
    if (has_page_flip) {
        const _Atomic uint64_t *flip = word_at(base, flip_sequence_offset);
        uint32_t attempt = 0;
        for (;;) {
            uint64_t s1 = atomic_load_explicit(flip, memory_order_acquire);
            for (size_t r = 0; r < count; r++) {
                const mmstats_record_ref *ref = &refs[r];
                if (ref->layout == MMSTATS_LAYOUT_PAGE_FLIP) {
                    uint64_t offset = parity(s1, swapped) ? ref->alt_offset : ref->offset;
                    copy_relaxed(output + ref->output_index, word_at(base, offset), ref->words);
                }
            }
            attempt_done();
            atomic_thread_fence(memory_order_acquire);
            uint64_t s2 = atomic_load_explicit(flip, memory_order_relaxed);
            if (s1 == s2) {
                break;
            }
            if (give_up(++attempt, max_retries, deadline_ns)) {
                MMSTATS_GUARD_END
                *busy_index = count;
                return MMSTATS_READ_BUSY;
            }
        }
    }
    MMSTATS_GUARD_END
    return MMSTATS_READ_OK;
}

int mmstats_copy_words(uint64_t *destination, const void *source, size_t words) {
    MMSTATS_GUARD_BEGIN
    const _Atomic uint64_t *from = (const _Atomic uint64_t *)source;
    for (size_t i = 0; i < words; i++) {
        destination[i] = atomic_load_explicit(&from[i], memory_order_relaxed);
    }
    MMSTATS_GUARD_END
    return MMSTATS_READ_OK;
}

int mmstats_load_acquire(const void *source, uint64_t *value) {
    MMSTATS_GUARD_BEGIN
    *value = atomic_load_explicit((const _Atomic uint64_t *)source, memory_order_acquire);
    MMSTATS_GUARD_END
    return MMSTATS_READ_OK;
}
