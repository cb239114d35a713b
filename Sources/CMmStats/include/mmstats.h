#ifndef MMSTATS_H
#define MMSTATS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The calling thread's kernel thread id.
int64_t mmstats_gettid(void);

/// `secure_getenv`: NULL in a setuid or setgid process, so its caller cannot steer it.
const char *mmstats_secure_getenv(const char *name);

/// `renameat2(..., RENAME_NOREPLACE)`: moves `old_name` to `new_name` only if `new_name` does
/// not exist (-1 and EEXIST if it does; EINVAL where the file system cannot do it).
int mmstats_rename_noreplace(int old_directory, const char *old_name, int new_directory,
                             const char *new_name);

/// How many CPUs this thread may run on (its affinity mask), at least 1.
int mmstats_available_cpus(void);

/// Runs `work(context, k)` for k = 0 ..< `threads`: k = 0 on the calling thread, the others on
/// new threads that block every signal but the faults a load raises (SIGBUS, SIGSEGV, SIGFPE,
/// SIGILL), so signals sent to the process stay with the caller's threads. Returns once all
/// have finished.
/// A thread that cannot be created is skipped: `work` must share its items through `context`,
/// so that the ones that run do everything. Returns how many ran (at least 1).
int mmstats_run_parallel(int threads, void (*work)(void *context, int index), void *context);

/// The calling thread's shard of thread-safe metrics (docs/FORMAT.md section 11.6): 0 until
/// the thread first records into one, then its shard index (1 or more), or UINT32_MAX when it
/// has none (every index taken, or the thread is exiting). Initial-exec TLS: one load from the
/// thread pointer, no call.
extern _Thread_local uint32_t mmstats_thread_shard __attribute__((tls_model("initial-exec")));

/// The calling thread's shard index (see `mmstats_thread_shard`).
static inline uint32_t mmstats_current_shard(void) { return mmstats_thread_shard; }

/// Sets the calling thread's shard index.
void mmstats_set_current_shard(uint32_t shard);

/// How one value record is read (the layouts of docs/FORMAT.md section 5).
enum {
    MMSTATS_LAYOUT_WORD = 1,
    MMSTATS_LAYOUT_DOUBLE_BUFFER = 2,
    MMSTATS_LAYOUT_PAGE_FLIP = 3,
};

/// Results of the guarded readers.
enum {
    MMSTATS_READ_OK = 0,
    /// The mapping faulted (the file was truncated under the reader).
    MMSTATS_READ_FAULT = -1,
    /// A record kept changing for longer than the retry budget.
    MMSTATS_READ_BUSY = -2,
};

/// Where one record lives in the mapping and where its words go in the output.
typedef struct mmstats_record_ref {
    /// Layout 1: the record; layout 2: the seq word; layout 3: the copy on page 0.
    uint64_t offset;
    /// Layout 3: the copy on page 1; otherwise 0.
    uint64_t alt_offset;
    /// Index of the first output word.
    uint64_t output_index;
    /// Words in one copy of the record.
    uint32_t words;
    uint32_t layout;
} mmstats_record_ref;

_Static_assert(sizeof(mmstats_record_ref) == 32, "mmstats_record_ref is shared with Swift");

/// Reads `count` records from the mapping at `base` into `output`, each by its layout's read
/// protocol; all page-flip records together, from one published page. The caller has
/// validated every offset against the mapping. A fault (SIGBUS) is caught and reported.
/// A read overtaken by the writer gives up (MMSTATS_READ_BUSY) after `max_retries` retries or
/// once CLOCK_MONOTONIC passes `deadline_ns` (0: no deadline), whichever comes first.
/// On MMSTATS_READ_BUSY, `*busy_index` receives the index of the record that kept changing.
/// `swapped` is nonzero for files in the other byte order (sequence parity is then read swapped).
int mmstats_read_records(const void *base, uint64_t flip_sequence_offset, int swapped,
                         const mmstats_record_ref *refs, size_t count, uint64_t *output,
                         uint32_t max_retries, uint64_t deadline_ns, size_t *busy_index);

/// Tests only: `hook` runs after every read attempt of a layout 2 or 3 record, before the
/// reader checks whether the writer overtook it (NULL: none, the default).
void mmstats_set_attempt_hook(void (*hook)(void));

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t mmstats_monotonic_ns(void);

/// Copies `words` words from `source` (in a mapping) with relaxed atomic loads, catching SIGBUS.
int mmstats_copy_words(uint64_t *destination, const void *source, size_t words);

/// Loads one word with acquire ordering, catching SIGBUS.
int mmstats_load_acquire(const void *source, uint64_t *value);

#ifdef __cplusplus
}
#endif

#endif
