#pragma once
// The subcommands, each returning its exit code (report.hpp: kPass, kFail, kBad).
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/oracle/gradcheck.hpp"
#include "report.hpp"

namespace gradoracle::cli {

// Every subcommand reads op names as `ops` declares them (the engine's table, or one a test
// program extends with planted ops). jobs: fixtures judged at once (threads); the output does
// not depend on it.
// An outside engine to run fixtures in (docs/engine-protocol.md); none: gradoracle's own.
struct EngineArgs {
  std::string command;           // `sh -c` runs it; "": the built-in engine
  double timeout_seconds = 60;   // per request
};
int cmd_replay(const std::vector<std::string>& paths, unsigned jobs, const Output& o, const registry::OpTable& ops,
               const EngineArgs& engine = {});
// `gradoracle serve`: the C++ adapter, gradoracle's engine over the engine protocol on stdin/stdout.
int cmd_serve(const std::string& version, const registry::OpTable& ops);
int cmd_gradcheck(const std::vector<std::string>& paths, const oracle::GradCheckOptions& options, unsigned jobs,
                  const Output& o, const registry::OpTable& ops, const EngineArgs& engine = {});
// references: every op's reference inputs too (OpSpec::references), recorded.
int cmd_generate(const std::vector<std::string>& op_names, bool all, int programs, bool references, uint64_t seed,
                 const std::string& dtype, const std::string& out_dir, const Output& o, const registry::OpTable& ops);
int cmd_ops(const Output& o, const registry::OpTable& ops);

// `gradoracle check`: the gate (check.cpp).
// Its default cases per property, about 12 s in all on one core (the runner's own defaults,
// sized for the unit suite, take about 4 s). An op task runs its reference inputs first.
inline constexpr int kGateOpCases = 600, kGateProgramCases = 2000, kGateStructuralCases = 1000,
                     kGateSecondOrderCases = 200;

// A seed as the tool prints it: decimal digits, 0 to 2^64 - 1; none for anything else.
std::optional<uint64_t> parse_seed(const std::string& text);

// --jobs' default: the hardware threads (at least 1).
inline unsigned default_jobs() { return std::max(1u, std::thread::hardware_concurrency()); }

struct CheckArgs {
  std::string program = "gradoracle";   // argv[0], for the commands a failure prints
  std::vector<std::string> paths;       // fixture files or directories, beside the embedded corpus
  std::string seed = "1";               // a seed (parse_seed), or "random"
  std::optional<int> cases;             // cases per property; none: each property's default
  std::optional<double> seconds;        // time budget for the whole run; none: no limit
  std::string shard = "0/1";            // "I/N": the tasks t with t % N == I
  std::vector<std::string> ops;         // focus: these ops' gradchecks only
  std::vector<std::string> tasks;       // focus: tasks whose id matches (glob, '*' any run)
  std::vector<std::string> dtypes;      // float64, float32; none: both
  std::string counterexample_dir;       // "": properties::counterexample_dir()
  std::string reproduce;                // RapidCheck's RC_PARAMS of a failure: replay that shrunk case only,
                                        // with its seed
  int maxfail = 0;                      // stop after this many failed tasks; 0: run every task
  bool list = false;                    // print the selected task ids and exit
  bool progress = false;                // redraw a progress line even when not on a terminal
  bool no_progress = false;             // plain lines even on a terminal
  EngineArgs engine;                    // an outside engine computes the gradcheck tasks; none: gradoracle's
  unsigned jobs = default_jobs();        // tasks at once, in worker processes
};
int cmd_check(const CheckArgs& args, const Output& o, const registry::OpTable& ops);

}  // namespace gradoracle::cli
