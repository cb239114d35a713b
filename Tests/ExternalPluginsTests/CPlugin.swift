import Foundation
import MmStatsTestSupport

/// A C plugin the tests build with `cc -shared`: a kind `pair` (`QQ`, exposing `sum`) and an
/// evaluator `plus(a, b)`, with every part of the descriptor replaceable by a `-D` define to
/// make it malformed.
enum CPlugin {
    static let source = #"""
        #include "mmstats_plugin.h"
        #include <stddef.h>

        #ifndef PLUGIN_NAME
        #define PLUGIN_NAME "cplugin"
        #endif
        #ifndef KIND_NAME
        #define KIND_NAME "pair"
        #endif
        #ifndef SIGNATURE
        #define SIGNATURE "QQ"
        #endif
        #ifndef FIELD_COUNT
        #define FIELD_COUNT 2
        #endif
        #ifndef KIND_COUNT
        #define KIND_COUNT 1
        #endif
        #ifndef ABI
        #define ABI MMSTATS_PLUGIN_ABI_VERSION
        #endif
        #ifndef STRUCT_SIZE
        #define STRUCT_SIZE sizeof(mmstats_plugin)
        #endif
        #ifndef EXPOSE_RETURN
        #define EXPOSE_RETURN 1
        #endif
        #ifndef ENTRY
        #define ENTRY mmstats_plugin_v1
        #endif
        #ifndef RETURN
        #define RETURN &plugin
        #endif

        static const char *const fields[] = {"a", "b"};
        static const char *const exposed[] = {"sum"};

        static int32_t expose(void *context, const mmstats_value *in, uint32_t count, uint64_t now,
                              mmstats_exposed_field *out, uint32_t capacity) {
            (void)context; (void)now;
            if (count != 2 || capacity < 1) return -1;
            out[0].name_index = 0;
            out[0].value.type = MMSTATS_VALUE_UINT64;
            out[0].value.v.u64 = in[0].v.u64 + in[1].v.u64;
            return EXPOSE_RETURN;
        }

        static int32_t plus(void *context, const mmstats_value *in, uint32_t count, uint64_t elapsed,
                            mmstats_value *result) {
            (void)context; (void)elapsed;
            if (count != 2) return MMSTATS_EVALUATE_ERROR;
            double a = in[0].type == MMSTATS_VALUE_DOUBLE ? in[0].v.f64 : (double)in[0].v.i64;
            double b = in[1].type == MMSTATS_VALUE_DOUBLE ? in[1].v.f64 : (double)in[1].v.i64;
            result->type = MMSTATS_VALUE_DOUBLE;
            result->v.f64 = a + b;
            return MMSTATS_EVALUATE_OK;
        }

        static const mmstats_plugin_kind kinds[] = {{
            .name = KIND_NAME, .signature = SIGNATURE, .field_names = fields, .exposed_names = exposed,
            .expose = expose, .context = NULL, .field_count = FIELD_COUNT, .exposed_count = 1,
            .default_layout = 2,
        }};
        static const mmstats_plugin_evaluator evaluators[] = {{
            .name = "plus", .evaluate = plus, .context = NULL, .parameter_count = 2,
        }};
        static const mmstats_plugin plugin = {
            .abi_version = ABI, .struct_size = STRUCT_SIZE, .name = PLUGIN_NAME, .version = "0.1",
            .kinds = kinds, .evaluators = evaluators, .kind_count = KIND_COUNT,
            .kind_size = sizeof(mmstats_plugin_kind), .evaluator_count = 1,
            .evaluator_size = sizeof(mmstats_plugin_evaluator),
        };

        const mmstats_plugin *ENTRY(void) { return RETURN; }
        """#

    /// Compiles the plugin with `defines` (`NAME=VALUE`) into `directory`; returns its path.
    static func build(_ label: String, defines: [String] = [], in directory: TemporaryDirectory) throws -> String {
        let sourcePath = directory.path + "/\(label).c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let output = directory.path + "/lib\(label).so"
        let include = Binaries.packageRoot + "/Sources/CMmStatsPlugin/include"
        let arguments = ["cc", "-shared", "-fPIC", "-std=c11", "-I", include, "-o", output, sourcePath]
        let result = try run("/usr/bin/env", arguments + defines.map { "-D" + $0 })
        guard result.status == 0 else { throw CompileError(message: "cc failed for \(label): \(result.stderr)") }
        return output
    }

    struct CompileError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
