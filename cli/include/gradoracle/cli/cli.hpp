#pragma once
// The command line as a library: `gradoracle` is a thin main over run_cli, and test programs
// call the same entry with planted ops.
#include <vector>

#include "gradoracle/engine/registry.hpp"

namespace gradoracle::cli {

// Parses argv, runs the subcommand, returns the exit code: 0 all pass, 1 a check fails (a
// gradient is wrong), 2 bad input or usage. Every subcommand reads, sweeps and lists the ops
// of `ops` (a test program passes the engine's table extended with planted ops).
int run_cli(int argc, char** argv, const registry::OpTable& ops = registry::builtin_ops());

}  // namespace gradoracle::cli
