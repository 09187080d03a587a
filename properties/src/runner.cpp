#include "gradoracle/properties/runner.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace gradoracle::properties {

namespace rcd = rc::detail;
using registry::OpSpec;

namespace {

// Nothing printed: results come back as PropertyResult.
class SilentListener final : public rcd::TestListener {
 public:
  void onTestCaseFinished(const rcd::CaseDescription&) override {}
  void onShrinkTried(const rcd::CaseDescription&, bool) override {}
  void onTestFinished(const rcd::TestMetadata&, const rcd::TestResult&) override {}
};

// The selected tasks of `tasks`, sharded.
std::vector<Task> chosen(std::vector<Task> tasks, const RunOptions& o) {
  std::erase_if(tasks, [&](const Task& t) { return !selected(t.id, t.kind, t.op, t.dtype, o); });
  return take_shard(std::move(tasks), o);
}

std::vector<Task> op_tasks_unsharded(const RunOptions& o) {
  std::vector<Task> tasks;
  const std::filesystem::path dir = o.counterexample_dir;
  const registry::OpTable* table = o.table;
  fixtures::EngineProcess* engine = o.engine;
  for (const OpSpec* op : fuzzable_ops(*table)) {
    for (DType dtype : o.dtypes) {
      Task t{"op/" + op->name + "/" + name(dtype), TaskKind::Op, op->name, dtype, kOpCases,
             [=](CaseStats* s) { prop_op_gradcheck(*op, dtype, s, dir, *table, engine); }, nullptr};
      t.references = [=](int* checked) { return check_references(*op, dtype, dir, *table, checked, engine); };
      t.saved = [=] { return rerun_saved(op, dtype, dir, *table, false, engine); };
      tasks.push_back(std::move(t));
    }
  }
  return tasks;
}

// The random programs' options: the run's table, restricted to o.program_ops if given.
ProgramOptions program_options(const RunOptions& o) {
  ProgramOptions po;
  po.table = o.table;
  for (const std::string& n : o.program_ops) {
    const OpSpec* op = o.table->find(n);
    if (!op || !fuzzable(*op)) throw Error(ErrorKind::Value, "program_ops: " + n + " is not a fuzzable op of the table");
    po.ops.push_back(op);
  }
  return po;
}

std::vector<Task> program_tasks_unsharded(const RunOptions& o) {
  std::vector<Task> tasks;
  const ProgramOptions po = program_options(o);
  const std::filesystem::path dir = o.counterexample_dir;
  fixtures::EngineProcess* engine = o.engine;
  for (DType dtype : o.dtypes) {
    tasks.push_back(Task{std::string("program/") + name(dtype), TaskKind::Program, "", dtype, kProgramCases,
                         [=](CaseStats* s) { prop_program_gradcheck(dtype, s, po, dir, engine); }, nullptr,
                         [=, table = po.table] { return rerun_saved(nullptr, dtype, dir, *table, false, engine); }});
  }
  return tasks;
}

// Second order: each op's gradgradcheck, and random programs' (gradcheck_props.cpp).
std::vector<Task> second_order_tasks_unsharded(const RunOptions& o) {
  std::vector<Task> tasks;
  const std::filesystem::path dir = o.counterexample_dir;
  const registry::OpTable* table = o.table;
  fixtures::EngineProcess* engine = o.engine;
  for (const OpSpec* op : fuzzable_ops(*table)) {
    for (DType dtype : o.dtypes) {
      Task t{"op2/" + op->name + "/" + name(dtype), TaskKind::SecondOrder, op->name, dtype, kSecondOrderCases,
             [=](CaseStats* s) { prop_op_gradgradcheck(*op, dtype, s, dir, *table, engine); }, nullptr};
      t.saved = [=] { return rerun_saved(op, dtype, dir, *table, true, engine); };
      tasks.push_back(std::move(t));
    }
  }
  const ProgramOptions po = program_options(o);
  for (DType dtype : o.dtypes) {
    tasks.push_back(Task{std::string("program2/") + name(dtype), TaskKind::SecondOrder, "", dtype, kSecondOrderCases,
                         [=](CaseStats* s) { prop_program_gradgradcheck(dtype, s, po, dir, engine); }, nullptr,
                         [=] { return rerun_saved(nullptr, dtype, dir, *table, true, engine); }});
  }
  return tasks;
}

std::vector<Task> structural_tasks_unsharded(const RunOptions& o) {
  const std::vector<std::pair<const char*, void (*)(DType)>> props = {
      {"backward_twice", prop_backward_twice},       {"linear_in_upstream", prop_linear_in_upstream},
      {"split_batch", prop_split_batch},             {"clip_grad_norm", prop_clip_grad_norm},
      {"detach_cuts_path", prop_detach_cuts_path},   {"values_without_grad", prop_values_without_grad},
      {"nn_model", prop_nn_model},
  };
  std::vector<Task> tasks;
  for (const auto& [prop, fn] : props) {
    for (DType dtype : o.dtypes) {
      tasks.push_back(Task{std::string("structural/") + prop + "/" + name(dtype), TaskKind::Structural, "", dtype,
                           kStructuralCases, [f = fn, dtype](CaseStats*) { f(dtype); }, nullptr});
    }
  }
  // Declared stability promises and dim refusals, over the run's table (stability.cpp).
  for (const auto& [prop, fn] : {std::pair{"stability", &prop_stability}, std::pair{"dim_refusals", &prop_dim_refusals}}) {
    for (DType dtype : o.dtypes) {
      tasks.push_back(Task{std::string("structural/") + prop + "/" + name(dtype), TaskKind::Structural, "", dtype,
                           kStructuralCases, [f = fn, dtype, table = o.table](CaseStats*) { f(dtype, *table); }, nullptr});
    }
  }
  // The autograd bookkeeping and layout properties (bookkeeping.cpp), and second order's over the
  // run's table (second_order.cpp).
  for (const NamedProperty& p : bookkeeping_properties()) {
    for (DType dtype : o.dtypes) {
      tasks.push_back(Task{std::string("structural/") + p.name + "/" + name(dtype), TaskKind::Structural, "", dtype,
                           kStructuralCases, [f = p.body, dtype](CaseStats*) { f(dtype); }, nullptr});
    }
  }
  for (const TableProperty& p : second_order_properties()) {
    for (DType dtype : o.dtypes) {
      tasks.push_back(Task{std::string("structural/") + p.name + "/" + name(dtype), TaskKind::Structural, "", dtype,
                           kStructuralCases, [f = p.body, dtype, table = o.table](CaseStats*) { f(dtype, *table); }, nullptr});
    }
  }
  return tasks;
}

// Runs a task's cases for RapidCheck: counts the cases checked until the first failure
// (discards and shrink steps are not cases), reports each, and once the deadline has passed
// with no failure seen, stops the task.
struct CaseCounter {
  const Task& task;
  const RunOptions& options;
  CaseStats* stats;
  int checked = 0;
  bool budget_spent = false;
  bool failed = false;
  uint64_t digest_at_failure = 0;

  void run_case() {
    if (failed) return task.body(stats);  // a shrink step
    if (options.deadline && std::chrono::steady_clock::now() >= *options.deadline) {
      // Ends RapidCheck's loop at once: a "failure" that draws nothing has no shrinks.
      budget_spent = true;
      throw rcd::CaseResult(rcd::CaseResult::Type::Failure, "time budget spent");
    }
    try {
      task.body(stats);
    } catch (const rcd::CaseResult& result) {
      if (result.type == rcd::CaseResult::Type::Failure) count(true);
      throw;
    } catch (const rc::GenerationFailure&) {
      throw;  // a discard
    } catch (...) {
      count(true);
      throw;
    }
    count(false);
  }

  void count(bool failure) {
    ++checked;
    if (failure) {
      failed = true;
      digest_at_failure = stats->digest;
    }
    if (options.on_case) options.on_case(task.id, checked, failure);
  }
};

std::string show_example(const rcd::Example& example) {
  std::ostringstream os;
  for (const auto& [type, value] : example) os << value << '\n';
  return os.str();
}

}  // namespace

const char* name(TaskKind k) {
  switch (k) {
    case TaskKind::Fixture: return "fixture";
    case TaskKind::Op: return "op";
    case TaskKind::Program: return "program";
    case TaskKind::Structural: return "structural";
    case TaskKind::SecondOrder: return "second_order";
  }
  return "?";
}

namespace {
// RC_PARAMS for replaying one failure: "seed=S reproduce=..." (what RapidCheck itself prints).
std::string reproduce_string(const std::string& id, uint64_t seed, const rcd::Reproduce& reproduce) {
  rcd::Configuration config;
  config.testParams.seed = seed;
  config.reproduce[id] = reproduce;
  return rcd::configToMinimalString(config);
}
}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative wildcard matching: linear backtracking to the last '*'.
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool selected(const std::string& id, TaskKind kind, const std::string& op, DType dtype, const RunOptions& o) {
  if (std::find(o.dtypes.begin(), o.dtypes.end(), dtype) == o.dtypes.end()) return false;
  if (o.ops.empty() && o.tasks.empty()) return true;
  const bool by_op = kind == TaskKind::Op && std::find(o.ops.begin(), o.ops.end(), op) != o.ops.end();
  const bool by_id = std::any_of(o.tasks.begin(), o.tasks.end(), [&](const std::string& p) { return glob_match(p, id); });
  return by_op || by_id;
}

std::vector<Task> every_task(const RunOptions& o) {
  std::vector<Task> tasks = op_tasks_unsharded(o);
  for (auto* more : {program_tasks_unsharded, second_order_tasks_unsharded, structural_tasks_unsharded}) {
    std::vector<Task> t = more(o);
    tasks.insert(tasks.end(), std::make_move_iterator(t.begin()), std::make_move_iterator(t.end()));
  }
  return tasks;
}

std::vector<Task> op_sweep_tasks(const RunOptions& o) { return chosen(op_tasks_unsharded(o), o); }
std::vector<Task> program_tasks(const RunOptions& o) { return chosen(program_tasks_unsharded(o), o); }
std::vector<Task> structural_tasks(const RunOptions& o) { return chosen(structural_tasks_unsharded(o), o); }
std::vector<Task> all_tasks(const RunOptions& o) { return chosen(every_task(o), o); }

std::vector<std::string> reproduced_tasks(const std::string& rc_params) {
  std::vector<std::string> ids;
  try {
    for (const auto& [id, reproduce] : rcd::configFromString(rc_params).reproduce) ids.push_back(id);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

RunOptions options_from_rc_params(const std::string& rc_params, RunOptions base) {
  if (rc_params.empty()) return base;
  const rcd::Configuration config = rcd::configFromString(rc_params);
  const rcd::Configuration defaults;
  if (rc_params.find("seed=") != std::string::npos) base.seed = config.testParams.seed;
  if (config.testParams.maxSuccess != defaults.testParams.maxSuccess) base.cases = config.testParams.maxSuccess;
  base.max_size = config.testParams.maxSize;
  base.shrink = !config.testParams.disableShrinking;
  if (!config.reproduce.empty()) base.reproduce = rc_params;
  return base;
}

PropertyResult run_property(const std::string& id, const std::function<void()>& body, int default_cases,
                            const RunOptions& o) {
  const Task task{id, TaskKind::Structural, "", DType::Float64, default_cases, [&body](CaseStats*) { body(); }, nullptr};
  return run_task(task, o);
}

PropertyResult run_task(const Task& task, const RunOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  // The result's fields every outcome shares.
  const auto result_of_task = [&] {
    PropertyResult r;
    r.id = task.id;
    r.kind = task.kind;
    r.op = task.op;
    r.dtype = task.dtype;
    r.seed = o.seed;
    return r;
  };
  // The cases earlier runs saved, then the reference inputs: a failure there is the task's
  // failure, with its fixture, and no new case is drawn.
  const SavedCases saved = task.saved && o.rerun_saved && o.reproduce.empty() ? task.saved() : SavedCases{};
  const auto failed_before_search = [&](const ReferenceFailure& f, bool saved_case, int references) {
    PropertyResult r = result_of_task();
    r.cases = saved.checked + references;
    r.references = references;
    r.saved = saved.checked;
    r.saved_unreadable = saved.unreadable;
    r.saved_not_judged = saved.not_judged;
    r.planned = r.cases;
    r.message = f.diagnosis;
    r.counterexample = (saved_case ? "saved case \"" : "reference input \"") + f.label + "\"\n";
    r.fixture = f.fixture;
    r.worst_abs = f.worst_abs;
    r.worst_rel = f.worst_rel;
    r.worst_ratio = f.worst_ratio;
    r.saved_failed = saved_case;
    r.reference_failed = !saved_case;
    r.replay_fails = f.pinned;
    r.gradcheck_fails = !f.pinned;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.on_case) o.on_case(task.id, r.cases, true);
    if (o.on_result) o.on_result(r);
    return r;
  };
  if (saved.failure) return failed_before_search(*saved.failure, true, 0);
  int references_checked = 0;
  if (task.references && o.reproduce.empty()) {
    if (std::optional<ReferenceFailure> f = task.references(&references_checked))
      return failed_before_search(*f, false, references_checked);
  }

  rcd::TestParams params;
  params.seed = o.seed;
  params.maxSuccess = o.cases > 0 ? o.cases : task.default_cases;
  params.maxSize = o.max_size;
  params.disableShrinking = !o.shrink;
  std::unordered_map<std::string, rcd::Reproduce> reproduce;
  if (!o.reproduce.empty()) reproduce = rcd::configFromString(o.reproduce).reproduce;

  CaseStats stats;
  CaseCounter counter{task, o, &stats};
  counter.checked = saved.checked + references_checked;
  SilentListener listener;
  const rcd::TestMetadata metadata{task.id, task.id};
  const rcd::TestResult result =
      rcd::checkProperty(rcd::toProperty([&counter] { counter.run_case(); }), metadata, params, listener, reproduce);
  const auto stop = std::chrono::steady_clock::now();

  PropertyResult r = result_of_task();
  r.seconds = std::chrono::duration<double>(stop - start).count();
  r.discarded = stats.discarded;
  r.worst_abs = stats.worst_abs;
  r.worst_rel = stats.worst_rel;
  r.worst_ratio = stats.worst_ratio;
  r.planned = params.maxSuccess + saved.checked + references_checked;
  r.stopped_early = counter.budget_spent;
  r.cases = counter.checked;
  r.references = references_checked;
  r.saved = saved.checked;
  r.saved_unreadable = saved.unreadable;
  r.saved_not_judged = saved.not_judged;
  r.digest = counter.failed ? counter.digest_at_failure : stats.digest;
  rcd::SuccessResult success;
  rcd::FailureResult failure;
  rcd::GaveUpResult gave_up;
  rcd::Error error;
  if (result.match(success) || counter.budget_spent) {
    r.passed = true;
  } else if (result.match(failure)) {
    r.message = failure.description;
    r.counterexample = show_example(failure.counterExample);
    r.reproduce = reproduce_string(task.id, o.seed, failure.reproduce);
    r.fixture = stats.last_fixture;
    r.gradcheck_fails = stats.last_gradcheck_fails;  // finite differences fail it again
    r.replay_fails = stats.last_replay_fails;  // and its expects (finite differences', gradoracle's values)
  } else if (result.match(gave_up)) {
    r.gave_up = true;
    r.message = "gave up: " + gave_up.description;
  } else if (result.match(error)) {
    r.message = "error: " + error.description;
  }
  if (o.on_result) o.on_result(r);
  return r;
}

std::vector<PropertyResult> run_tasks(const std::vector<Task>& tasks, const RunOptions& o) {
  std::vector<PropertyResult> results;
  for (const Task& t : tasks) results.push_back(run_task(t, o));
  return results;
}

std::vector<PropertyResult> run_op_sweep(const RunOptions& o) { return run_tasks(op_sweep_tasks(o), o); }
std::vector<PropertyResult> run_program_sweep(const RunOptions& o) { return run_tasks(program_tasks(o), o); }
std::vector<PropertyResult> run_structural(const RunOptions& o) { return run_tasks(structural_tasks(o), o); }
std::vector<PropertyResult> run_all(const RunOptions& o) { return run_tasks(all_tasks(o), o); }

}  // namespace gradoracle::properties
