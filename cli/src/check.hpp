#pragma once
// `gradoracle check`, the gate: its tasks (fixtures and properties, one result each) and the
// reports they make (check_output.cpp).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gradoracle/properties/runner.hpp"
#include "report.hpp"

namespace gradoracle::cli {

// An embedded fixture's source: "embedded:corpus/tutorial/1-simple-example.json", a name
// (the fixture is in the binary), never taken for a path.
inline constexpr std::string_view kEmbedded = "embedded:";

// One unit of the gate, and of sharding: a fixture (replayed and gradchecked), or a property
// (an op's gradcheck in one dtype, random programs in one dtype, a structural property).
struct GateTask {
  std::string id;      // "fixture/tutorial/1-simple-example", "op/exp/float64", "program/float32", ...
  properties::TaskKind kind = properties::TaskKind::Fixture;
  std::string op;      // the op, for kind "op"
  DType dtype = DType::Float64;
  int default_cases = 1;
  std::string source;  // fixtures: the file, or for an embedded one kEmbedded + its source path
  std::function<properties::PropertyResult(const properties::RunOptions&)> run;
};

// What the run was, for the report and the commands a failure prints.
struct GateRun {
  std::string program;  // argv[0]
  uint64_t seed = 0;
  int shard_index = 0, shard_count = 1;
  int cases = 0;          // --cases, 0 if not given
  double seconds = 0;     // --time, 0 if not given
  std::vector<std::string> paths;  // fixture paths given
  std::string counterexample_dir;  // where saved cases are read and new ones written
  bool counterexample_dir_given = false;  // by --counterexamples (then the printed commands name it)
  int maxfail = 0;                 // --maxfail, 0 if not given
  std::vector<std::string> not_run;  // tasks not run: --maxfail failures came first
  std::vector<GateTask> tasks;     // this shard's
  std::vector<properties::PropertyResult> results;  // one per task, same order
  std::vector<Case> errors;        // bad input
  double elapsed = 0;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
};

// "pass", "fail" (a gradient or a property is wrong), "stopped" (the budget ran out before any case).
std::string status(const properties::PropertyResult& r);

// The commands that reproduce a failing task, each failing again (exit 1): `gradcheck FILE`
// and/or `replay FILE` of its fixture, as the result says which fails; the check focused on it
// (same seed and cases); and the shrunk case exactly (RapidCheck's reproduce).
std::vector<std::string> reproduce_commands(const GateRun& run, const GateTask& task,
                                            const properties::PropertyResult& r);

// One line per finished task (plain output): "PASS op/exp/float64  200 cases  worst abs 1e-9 rel 3e-7  0.12 s".
std::string task_line(const GateTask& task, const properties::PropertyResult& r);
// The failure: diagnosis, seed, shrunk case, fixture, commands.
std::string failure_text(const GateRun& run, const GateTask& task, const properties::PropertyResult& r);
// The summary table (task, cases, worst abs, worst rel, tolerance used, time, status), a legend,
// and the totals line.
std::string summary_table(const GateRun& run);
nlohmann::json gate_json(const GateRun& run, int exit_code);
Report gate_report(const GateRun& run);  // for JUnit

// Redraws "[k/n] task  cases/planned  failures  time" in place on a terminal.
class Progress {
 public:
  Progress(std::ostream& os, bool redraw, size_t tasks);
  void start(const GateTask& task, int planned);
  void update(int cases);
  void finish(bool failed);
  void clear();  // erase the line, before printing a permanent one
 private:
  void draw();
  std::ostream& os_;
  bool redraw_;
  size_t tasks_, done_ = 0;
  int failures_ = 0, cases_ = 0, planned_ = 0;
  std::string id_;
  double last_draw_ = -1;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace gradoracle::cli
