#ifndef MMSTATS_PLUGIN_H
#define MMSTATS_PLUGIN_H

/// The C interface of mmstats plugins, version 1 (docs/PLUGINS.md is the contract).
///
/// A plugin is a shared object that exports `mmstats_plugin_v1`, a function returning a
/// pointer to a `mmstats_plugin` descriptor. The host `dlopen`s the object, calls the entry
/// once, validates and copies everything the descriptor says, and from then on only calls
/// the callbacks. Everything the descriptor points to belongs to the plugin and must stay
/// valid and unchanged until the process exits (the host never unloads a plugin). The host
/// owns every buffer it passes to a callback; the plugin never allocates memory the host
/// frees.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The interface version this header describes; `mmstats_plugin.abi_version` must equal it.
#define MMSTATS_PLUGIN_ABI_VERSION 1u
/// The name of the entry symbol the host looks up with `dlsym`.
#define MMSTATS_PLUGIN_ENTRY_SYMBOL "mmstats_plugin_v1"

/// Limits the host enforces (a descriptor over any of them is refused).
enum {
    /// Bytes of a plugin, kind, evaluator or field name (not counting the NUL).
    MMSTATS_PLUGIN_MAX_NAME = 64,
    /// Bytes of the plugin's version text.
    MMSTATS_PLUGIN_MAX_VERSION = 64,
    /// Bytes of a kind's signature text.
    MMSTATS_PLUGIN_MAX_SIGNATURE = 256,
    /// Kinds in one plugin.
    MMSTATS_PLUGIN_MAX_KINDS = 64,
    /// Evaluators in one plugin.
    MMSTATS_PLUGIN_MAX_EVALUATORS = 64,
    /// Components of one kind's record.
    MMSTATS_PLUGIN_MAX_COMPONENTS = 256,
    /// Exposed field names of one kind.
    MMSTATS_PLUGIN_MAX_EXPOSED = 256,
    /// Parameters of one evaluator.
    MMSTATS_PLUGIN_MAX_PARAMETERS = 16,
};

/// The type of a `mmstats_value`.
enum {
    MMSTATS_VALUE_INT64 = 1,
    MMSTATS_VALUE_UINT64 = 2,
    MMSTATS_VALUE_DOUBLE = 3,
};

/// One number: a signed or unsigned 64-bit integer or a binary64, tagged by `type`.
typedef struct mmstats_value {
    /// `MMSTATS_VALUE_INT64`, `MMSTATS_VALUE_UINT64` or `MMSTATS_VALUE_DOUBLE`.
    uint32_t type;
    /// Zero.
    uint32_t reserved;
    union {
        int64_t i64;
        uint64_t u64;
        double f64;
    } v;
} mmstats_value;

/// One exposed field a kind's callback computed: an index into the kind's `exposed_names`.
typedef struct mmstats_exposed_field {
    /// Index into `mmstats_plugin_kind.exposed_names`.
    uint32_t name_index;
    /// Zero.
    uint32_t reserved;
    /// The field's value.
    mmstats_value value;
} mmstats_exposed_field;

/// Computes a record's exposed fields: reads `component_count` components (in signature
/// order), writes at most `capacity` fields into `out` and returns how many it wrote, or a
/// negative number when it cannot (the host then shows the raw components). `now` is
/// nanoseconds of CLOCK_MONOTONIC. Called from any thread, concurrently.
typedef int32_t (*mmstats_plugin_expose_fn)(
    void *context, const mmstats_value *components, uint32_t component_count, uint64_t now,
    mmstats_exposed_field *out, uint32_t capacity);

/// A status an evaluator returns.
enum {
    /// `*result` holds the result.
    MMSTATS_EVALUATE_OK = 0,
    /// There is no result for these inputs (the destination keeps its value).
    MMSTATS_EVALUATE_NONE = 1,
    /// The inputs are wrong for this evaluator.
    MMSTATS_EVALUATE_ERROR = 2,
};

/// Computes an evaluator's result from exactly `parameter_count` inputs into `*result`;
/// returns an `MMSTATS_EVALUATE_*` status. `elapsed_ns`: nanoseconds since the previous pass
/// (0 on the first). Called from any thread, concurrently.
typedef int32_t (*mmstats_plugin_evaluate_fn)(
    void *context, const mmstats_value *inputs, uint32_t input_count, uint64_t elapsed_ns,
    mmstats_value *result);

/// A metric kind: its record and how readers expose it.
typedef struct mmstats_plugin_kind {
    /// The kind's name, stored in descriptors (for example "apdex").
    const char *name;
    /// The record's signature in the format's grammar (docs/FORMAT.md §4.1), numeric letters only.
    const char *signature;
    /// One name per component of the signature.
    const char *const *field_names;
    /// The names of the fields `expose` may write, referred to by index.
    const char *const *exposed_names;
    /// Computes exposed fields; NULL exposes the components as they are.
    mmstats_plugin_expose_fn expose;
    /// Passed to `expose` as it is.
    void *context;
    /// Entries of `field_names`: the signature's component count.
    uint32_t field_count;
    /// Entries of `exposed_names` (0 when `expose` is NULL).
    uint32_t exposed_count;
    /// The layout a writer uses unless told otherwise: 1 word or 2 double buffer.
    uint16_t default_layout;
    /// Zero.
    uint16_t reserved[3];
} mmstats_plugin_kind;

/// A function expressions can call (the statistics processor's unit of work).
typedef struct mmstats_plugin_evaluator {
    /// The name expressions use (an identifier, for example "apdex").
    const char *name;
    /// Computes the result.
    mmstats_plugin_evaluate_fn evaluate;
    /// Passed to `evaluate` as it is.
    void *context;
    /// Inputs the evaluator takes.
    uint32_t parameter_count;
    /// Zero.
    uint32_t reserved;
} mmstats_plugin_evaluator;

/// What `mmstats_plugin_v1` returns.
typedef struct mmstats_plugin {
    /// `MMSTATS_PLUGIN_ABI_VERSION`.
    uint32_t abi_version;
    /// `sizeof(mmstats_plugin)`.
    uint32_t struct_size;
    /// The plugin's unique name.
    const char *name;
    /// Its version, for listings.
    const char *version;
    /// `kind_count` kinds (NULL when 0).
    const mmstats_plugin_kind *kinds;
    /// `evaluator_count` evaluators (NULL when 0).
    const mmstats_plugin_evaluator *evaluators;
    uint32_t kind_count;
    /// `sizeof(mmstats_plugin_kind)`.
    uint32_t kind_size;
    uint32_t evaluator_count;
    /// `sizeof(mmstats_plugin_evaluator)`.
    uint32_t evaluator_size;
} mmstats_plugin;

/// The entry symbol's type: returns the plugin's descriptor (or NULL if it cannot start).
typedef const mmstats_plugin *(*mmstats_plugin_entry_fn)(void);

#if defined(__LP64__) || defined(_LP64)
_Static_assert(sizeof(mmstats_value) == 16, "mmstats_value is 16 bytes");
_Static_assert(sizeof(mmstats_exposed_field) == 24, "mmstats_exposed_field is 24 bytes");
_Static_assert(sizeof(mmstats_plugin_kind) == 64, "mmstats_plugin_kind is 64 bytes on LP64");
_Static_assert(offsetof(mmstats_plugin_kind, default_layout) == 56, "mmstats_plugin_kind layout");
_Static_assert(sizeof(mmstats_plugin_evaluator) == 32, "mmstats_plugin_evaluator is 32 bytes on LP64");
_Static_assert(sizeof(mmstats_plugin) == 56, "mmstats_plugin is 56 bytes on LP64");
_Static_assert(offsetof(mmstats_plugin, kind_count) == 40, "mmstats_plugin layout");
#endif
_Static_assert(offsetof(mmstats_value, v) == 8, "mmstats_value layout");
_Static_assert(offsetof(mmstats_plugin, name) == 8, "mmstats_plugin starts with version and size");

/// Calls an entry symbol found by `dlsym` (Swift cannot call a `void *` as a function).
const mmstats_plugin *mmstats_plugin_call_entry(void *symbol);

#ifdef __cplusplus
}
#endif

#endif
