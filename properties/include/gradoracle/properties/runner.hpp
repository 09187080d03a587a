#pragma once
// The property suite as a library: runs the properties in-process with RapidCheck, without
// GoogleTest, for `gradoracle check` (issue 6) and for tests that inspect a failure.
//
//     properties::RunOptions o;
//     o.seed = 42;
//     o.ops = {"softmax"};
//     for (const auto& r : properties::run_op_sweep(o))
//       if (!r.passed) std::cout << r.name << "\n" << r.counterexample << r.reproduce << "\n";
//
// Every property has a stable id ("op/softmax/float64", "program/float32",
// "structural/split_batch/float64"); RapidCheck's reproduce string is keyed by it.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gradoracle/fixtures/engine.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

// What a task checks; its id says the same in text ("op/exp/float64"), but nothing parses it back.
enum class TaskKind {
  Fixture,     // a fixture, replayed and gradchecked (the CLI's tasks)
  Op,          // an op's reference inputs, then its gradcheck over random cases, in one dtype
  Program,     // random programs, in one dtype
  Structural,  // a structural property, in one dtype
  SecondOrder, // an op's gradgradcheck over random cases (op2/<op>/<dtype>), or random programs' (program2/<dtype>)
};
const char* name(TaskKind k);  // "fixture", "op", "program", "structural", "second_order"

struct PropertyResult {
  std::string id;              // "op/exp/float64"
  TaskKind kind = TaskKind::Op;
  std::string op;              // the op, for the op sweep; "" otherwise
  DType dtype = DType::Float64;
  bool passed = false;         // every case passed
  bool gave_up = false;        // too many discards: reported as a failure of the generators
  int cases = 0;               // cases checked: the op's reference inputs, then RapidCheck's successes (plus the failing one)
  int references = 0;          // of which reference inputs (op tasks)
  int saved = 0;               // of which cases saved by earlier runs, re-run first (rerun_saved)
  bool saved_failed = false;   // a saved case failed again (no new case ran; no RapidCheck reproduce)
  std::vector<std::string> saved_unreadable;  // saved files not re-run: "FILE: why"
  std::vector<std::string> saved_not_judged;  // saved cases at a point the property draws again at: "FILE: why"
  int discarded = 0;           // drawn again: kinks, domain edges
  double worst_abs = 0.0;      // largest |analytic - numeric| among the checker's worst entries, all cases
  double worst_rel = 0.0;      // largest relative error among them
  double worst_ratio = 0.0;    // largest abs error / its allowance among them (< 1 passes)
  double seconds = 0.0;
  uint64_t seed = 0;
  std::string message;         // the failure: the checker's diagnosis of the shrunk case
  std::string counterexample;  // the shrunk case, as showValue prints it
  std::string reproduce;       // RC_PARAMS value replaying exactly this failure, e.g. "seed=1 reproduce=..."
  std::filesystem::path fixture;  // the shrunk case as a format-v1 fixture ("" if none)
  int planned = 0;             // cases asked for (RapidCheck's max_success)
  bool stopped_early = false;  // the deadline passed before `planned` cases were checked
  bool reference_failed = false;  // a reference input of the op failed (no random case ran; no RapidCheck reproduce)
  // What fails again on `fixture` alone: `gradoracle replay FILE` (an expect, e.g. a reference
  // input's pinned gradient) and `gradoracle gradcheck FILE` (finite differences).
  bool replay_fails = false;
  bool gradcheck_fails = false;
  uint64_t digest = 0;         // fingerprint of the sequence of cases checked (gradcheck tasks; 0 otherwise):
                               // equal digests, same cases, whatever the shard
};

struct RunOptions {
  uint64_t seed = 0;                    // RapidCheck's seed: same seed, same cases; 0
  int cases = 0;                        // cases per property (max_success); 0: each property's default
  // Focus: with neither `ops` nor `tasks`, every task; otherwise the op tasks of `ops` and the
  // tasks whose id matches one of `tasks` (globs, '*' any run of characters).
  std::vector<std::string> ops;         // focus: these ops' tasks
  std::vector<std::string> tasks;       // focus: task ids matching these globs
  std::vector<std::string> program_ops; // random programs draw these ops only; empty: every fuzzable op
  std::vector<DType> dtypes = {DType::Float64, DType::Float32};  // both by default
  int shard_index = 0;                  // run the tasks i with i % shard_count == shard_index; 0
  int shard_count = 1;                  // 1: no sharding
  std::filesystem::path counterexample_dir = properties::counterexample_dir();  // shrunk fixtures go here
  bool rerun_saved = false;             // first re-run the cases earlier runs saved there (rerun_saved); false
  const registry::OpTable* table = &registry::builtin_ops();  // the ops to sweep and to read cases with; the engine's
  // An outside engine that runs the gradcheck tasks' cases (properties.hpp, "gradient checks");
  // null: gradoracle's own. The structural properties always run in gradoracle's engine.
  fixtures::EngineProcess* engine = nullptr;
  int max_size = 100;                   // RapidCheck's max_size; 100
  bool shrink = true;                   // shrink failures; true
  std::string reproduce;                // an RC_PARAMS string with reproduce=...: replay those failures; ""
  std::function<void(const PropertyResult&)> on_result;  // called after each property; none
  // Time budget: past this instant a task draws no new case (a failure found before it is
  // still shrunk) and its result says stopped_early; none: every case runs.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // Called after each case a task checks (discards and shrink steps excluded): the task's id,
  // its cases so far, and whether one failed.
  std::function<void(const std::string& id, int cases, bool failed)> on_case;
};

// Default cases per property, sized for the whole suite to run in < 60 s on 2 cores.
inline constexpr int kOpCases = 200;
inline constexpr int kProgramCases = 500;
inline constexpr int kStructuralCases = 200;
inline constexpr int kSecondOrderCases = 100;

// One task of the suite: a property with its id and default case count.
struct Task {
  std::string id;
  TaskKind kind = TaskKind::Op;
  std::string op;
  DType dtype = DType::Float64;
  int default_cases = 0;
  std::function<void(CaseStats*)> body;  // the RapidCheck property body
  // Op tasks: the op's reference inputs, run before the random cases (counts them in *checked).
  std::function<std::optional<ReferenceFailure>(int* checked)> references;
  // Op and program tasks: the cases earlier runs saved under the counterexample dir, run first.
  std::function<SavedCases()> saved = nullptr;
};

// `pattern` with '*' matching any run of characters, against the whole of `text`.
bool glob_match(const std::string& pattern, const std::string& text);
// Whether options' focus (ops, tasks) and dtypes select a task; the one rule the gate's
// fixture tasks and the property tasks are selected by.
bool selected(const std::string& id, TaskKind kind, const std::string& op, DType dtype, const RunOptions& options);
// The tasks i with i % shard_count == shard_index: over the shards, disjoint and complete.
template <class T>
std::vector<T> take_shard(std::vector<T> tasks, const RunOptions& o) {
  if (o.shard_count <= 1) return tasks;
  std::vector<T> mine;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(o.shard_count)) == o.shard_index) mine.push_back(std::move(tasks[i]));
  }
  return mine;
}

// Every task in a fixed order, over options.dtypes: op sweep (ops x dtypes), programs,
// structural; neither focused nor sharded.
std::vector<Task> every_task(const RunOptions& options);
// The tasks options select, sharded: all of them, or one kind.
std::vector<Task> all_tasks(const RunOptions& options);
std::vector<Task> op_sweep_tasks(const RunOptions& options);
std::vector<Task> program_tasks(const RunOptions& options);
std::vector<Task> structural_tasks(const RunOptions& options);

// The ids of the tasks an RC_PARAMS string replays (its reproduce=), sorted; throws
// std::invalid_argument naming the fault when RapidCheck cannot read the string.
std::vector<std::string> reproduced_tasks(const std::string& rc_params);

// Options from an RC_PARAMS string (RapidCheck's: seed, max_success, max_size, noshrink,
// reproduce) over `base`; unknown keys are RapidCheck's to refuse.
RunOptions options_from_rc_params(const std::string& rc_params, RunOptions base = {});

// Runs any RapidCheck property body (`*gen` draws, RC_ASSERT) under the runner's options, as
// run_task does: the test harness's one way into RapidCheck.
PropertyResult run_property(const std::string& id, const std::function<void()>& body, int default_cases,
                            const RunOptions& options);

// Runs one task with RapidCheck (no GoogleTest, nothing printed).
PropertyResult run_task(const Task& task, const RunOptions& options);
std::vector<PropertyResult> run_tasks(const std::vector<Task>& tasks, const RunOptions& options);

// Gradcheck of every fuzzable op (or options.ops) in each dtype: one result per op and dtype.
std::vector<PropertyResult> run_op_sweep(const RunOptions& options);
// Random programs, one result per dtype.
std::vector<PropertyResult> run_program_sweep(const RunOptions& options);
// The structural properties, one result per property and dtype.
std::vector<PropertyResult> run_structural(const RunOptions& options);
// All of the above (sharded together).
std::vector<PropertyResult> run_all(const RunOptions& options);


}  // namespace gradoracle::properties
