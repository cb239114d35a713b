#include "mmstats_plugin.h"

#include <string.h>

const mmstats_plugin *mmstats_plugin_call_entry(void *symbol) {
    if (symbol == NULL) return NULL;
    // POSIX guarantees a dlsym result converts to a function pointer; memcpy says so in ISO C.
    mmstats_plugin_entry_fn entry;
    memcpy(&entry, &symbol, sizeof entry);
    return entry();
}
