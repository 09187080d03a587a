#pragma once
// `gradoracle check`, the gate: its tasks (fixtures and properties, one result each) and the
// reports they make (check_output.cpp).
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gradoracle/properties/runner.hpp"
#include "report.hpp"

namespace gradoracle::cli {

// An embedded fixture's source: "embedded:corpus/tutorial/1-simple-example.json", a name
// (the fixture is in the binary), never taken for a path.
inline constexpr std::string_view kEmbedded = "embedded:";

// One unit of the gate, and of sharding: a fixture (replayed, and gradchecked unless it is an
// embedded corpus/semantics or corpus/nonfinite one), or a property (an op's gradcheck in one
// dtype, random programs in one dtype, a structural property).
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
  std::string engine;              // --engine CMD, "" for none (the printed commands carry it)
  std::string counterexample_dir;  // where saved cases are read and new ones written
  bool counterexample_dir_given = false;  // by --counterexamples (then the printed commands name it)
  int maxfail = 0;                 // --maxfail, 0 if not given
  unsigned jobs = 1;               // worker processes the tasks ran in (1: this process)
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

// The width of the terminal on `fd` (TIOCGWINSZ), else $COLUMNS, else 80.
int terminal_width(int fd);

// "[12/72] op/softmax/float64  140/600 cases  0 failed  3.2 s", fitted to the width
// (the id shortened, then the counts, never longer than width - 1 columns).
std::string progress_line(size_t k, size_t n, const std::string& id, int cases, int planned, int failures,
                          double seconds, int width);

// Redraws the progress line in place (when `redraw`; else prints nothing of its own): at a
// task's start, then every 0.1 s from a ticker thread, so a long case or a shrink still shows
// the time, at the width of the terminal on `fd` when drawn. Every other line printed while
// it runs goes through print().
class Progress {
 public:
  Progress(std::ostream& os, int fd, bool redraw, size_t tasks);
  ~Progress();
  void start(const GateTask& task, int planned);
  void update(int cases);  // the task's cases so far
  // Shows another task already started (worker processes run several): its id and cases so far.
  void show(const GateTask& task, int planned, int cases);
  void finish(bool failed);
  void print(const std::string& line);  // a permanent line, above the progress line
  void done();  // stop redrawing and erase the line
  // Stops the ticker thread (joined) until resume(): fork() copies only the calling thread, so a
  // worker forked beside a running ticker could inherit a lock it held (AddressSanitizer's
  // allocator's, seen) and hang on it.
  void pause();
  void resume();
 private:
  void draw();  // with mutex_ held
  std::ostream& os_;
  int fd_;
  bool redraw_;
  size_t tasks_, started_ = 0;
  int failures_ = 0, cases_ = 0, planned_ = 0;
  std::string id_;
  std::chrono::steady_clock::time_point t0_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  void start_ticker();
  std::jthread ticker_;  // last: stopped and joined before the rest is destroyed
};

}  // namespace gradoracle::cli
