#pragma once
// The command line as a library: `gradoracle` is a thin main over run_cli, and test programs
// call the same entry with planted ops.
#include <vector>

#include "gradoracle/engine/registry.hpp"

namespace gradoracle::cli {

// Parses argv, runs the subcommand, returns the exit code: 0 all pass, 1 a check fails (a
// gradient is wrong), 2 bad input or usage. `extra_ops` are swept by `check` beside the
// registry's ops (the caller keeps them resolvable by name with registry::ScopedExtraOps).
int run_cli(int argc, char** argv, const std::vector<registry::OpSpec>& extra_ops = {});

}  // namespace gradoracle::cli
