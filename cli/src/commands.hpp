#pragma once
// The subcommands, each returning its exit code (report.hpp: kPass, kFail, kBad).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/oracle/gradcheck.hpp"
#include "report.hpp"

namespace gradoracle::cli {

// Every subcommand reads op names as `ops` declares them (the engine's table, or one a test
// program extends with planted ops). jobs: fixtures judged at once (threads); the output does
// not depend on it.
int cmd_replay(const std::vector<std::string>& paths, unsigned jobs, const Output& o, const registry::OpTable& ops);
int cmd_gradcheck(const std::vector<std::string>& paths, const oracle::GradCheckOptions& options, unsigned jobs,
                  const Output& o, const registry::OpTable& ops);
// references: every op's reference inputs too (OpSpec::references), recorded.
int cmd_generate(const std::vector<std::string>& op_names, bool all, int programs, bool references, uint64_t seed,
                 const std::string& dtype, const std::string& out_dir, const Output& o, const registry::OpTable& ops);
int cmd_ops(const Output& o, const registry::OpTable& ops);

// `gradoracle check`: the gate (check.cpp).
struct CheckArgs {
  std::string program = "gradoracle";   // argv[0], for the commands a failure prints
  std::vector<std::string> paths;       // fixture files or directories, beside the embedded tutorial
  std::string seed = "1";               // a number, or "random"
  std::optional<int> cases;             // cases per property; none: each property's default
  std::optional<double> seconds;        // time budget for the whole run; none: no limit
  std::string shard = "0/1";            // "I/N": the tasks t with t % N == I
  std::vector<std::string> ops;         // focus: these ops' gradchecks only
  std::vector<std::string> tasks;       // focus: tasks whose id matches (glob, '*' any run)
  std::vector<std::string> dtypes;      // float64, float32; none: both
  std::string counterexample_dir;       // "": properties::counterexample_dir()
  std::string reproduce;                // RapidCheck's RC_PARAMS of a failure: replay that shrunk case only
  bool list = false;                    // print the selected task ids and exit
  bool progress = false;                // redraw a progress line even when not on a terminal
  bool no_progress = false;             // plain lines even on a terminal
};
int cmd_check(const CheckArgs& args, const Output& o, const registry::OpTable& ops);

}  // namespace gradoracle::cli
