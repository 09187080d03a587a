// `gradoracle check`: the tasks (the embedded recorded corpus, given fixtures, the property
// suite), focus (--op, --task, --dtype), the shard, the budget, and the run.
#include "check.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <tuple>

#include "check_workers.hpp"
#include "commands.hpp"
#include "embedded.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/engine_check.hpp"
#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/fixtures/interpreter.hpp"

namespace gradoracle::cli {

namespace {

using properties::PropertyResult;
using properties::RunOptions;

using properties::TaskKind;

int gate_default_cases(TaskKind kind) {
  switch (kind) {
    case TaskKind::Fixture: return 1;
    case TaskKind::Op: return kGateOpCases;
    case TaskKind::Program: return kGateProgramCases;
    case TaskKind::Structural: return kGateStructuralCases;
    case TaskKind::SecondOrder: return kGateSecondOrderCases;
  }
  return 1;
}

// Bad input or usage: a message naming the option or file at fault.
struct BadInput : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "I/N" with 0 <= I < N.
std::pair<int, int> parse_shard(const std::string& s) {
  int index = -1, count = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%d/%d%c", &index, &count, &tail) != 2 || count < 1 || index < 0 || index >= count)
    throw BadInput("--shard " + s + ": expected I/N with N >= 1 and 0 <= I < N (e.g. 0/4 ... 3/4)");
  return {index, count};
}

// --seed: a seed (validated by the option), or `random`: 64 random bits.
uint64_t seed_of(const std::string& s) {
  if (s == "random") return std::random_device{}() * 0x100000000ull + std::random_device{}();
  return parse_seed(s).value();
}

// --reproduce: RapidCheck's RC_PARAMS of failures ("seed=S reproduce=..."), each failure keyed
// by its task's id. The ids it replays, and its seed (RapidCheck's default 0 when it names none).
std::pair<std::vector<std::string>, uint64_t> read_reproduce(const std::string& rc_params) {
  const std::string bad = "--reproduce '" + rc_params + "': ";
  try {
    std::vector<std::string> ids = properties::reproduced_tasks(rc_params);
    if (ids.empty()) throw BadInput(bad + "names no failure to replay (expected \"seed=S reproduce=...\")");
    return {std::move(ids), properties::options_from_rc_params(rc_params).seed};
  } catch (const std::invalid_argument& e) {
    throw BadInput(bad + "not an RC_PARAMS string a failure printed (" + e.what() + ")");
  }
}

// The tasks --reproduce replays (`ids`), which must be among `tasks`, the command's selection.
std::vector<GateTask> narrow_to(std::vector<GateTask> tasks, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    if (std::none_of(tasks.begin(), tasks.end(), [&](const GateTask& t) { return t.id == id; }))
      throw BadInput("--reproduce replays task " + id + ", which this command does not select (give --task " + id + ")");
  }
  std::erase_if(tasks, [&](const GateTask& t) { return !std::binary_search(ids.begin(), ids.end(), t.id); });
  return tasks;
}

// Replays the fixture (its expects) and, when `gradcheck`, gradchecks it: one case; the worst
// errors are the checker's, the failure the first broken expect or the checker's diagnosis.
PropertyResult run_fixture(const fixtures::Fixture& f, const std::string& id, bool gradcheck, const RunOptions& o) {
  PropertyResult r;
  r.id = id;
  r.kind = TaskKind::Fixture;
  r.dtype = f.dtype;
  r.seed = o.seed;
  r.planned = 1;
  if (o.deadline && std::chrono::steady_clock::now() >= *o.deadline) {
    r.passed = r.stopped_early = true;
    return r;
  }
  const auto t0 = std::chrono::steady_clock::now();
  r.cases = 1;
  try {
    if (o.engine) {
      if (const std::string why = o.engine->info().cannot_run(f); !why.empty()) {
        r.cases = 0;  // not the engine's: checked by nothing
        r.passed = true;
        r.message = "not run: " + why;
        r.seconds = since(t0);
        return r;
      }
    }
    fixtures::ReplayOptions run;
    run.ops = o.table;
    const fixtures::ReplayResult replayed = o.engine ? fixtures::replay_in(*o.engine, f) : fixtures::replay(f, run);
    const fixtures::FixtureCheck checked = !gradcheck  ? fixtures::FixtureCheck{}
                                           : o.engine ? fixtures::gradcheck_in(*o.engine, f, {}, *o.table)
                                                      : fixtures::gradcheck_fixture(f, {}, *o.table);
    if (checked.result) {
      for (const oracle::EntryReport& e : checked.result->worst) {
        r.worst_abs = std::max(r.worst_abs, e.abs_error);
        r.worst_rel = std::max(r.worst_rel, e.rel_error);
        if (e.allowed > 0) r.worst_ratio = std::max(r.worst_ratio, e.abs_error / e.allowed);
      }
    }
    r.passed = replayed.passed() && checked.passed();
    r.replay_fails = !replayed.passed();
    r.gradcheck_fails = !checked.passed();
    if (!replayed.passed()) r.message = replayed.failures.front().to_string();
    if (!checked.passed()) {
      if (!r.message.empty()) r.message += '\n';
      r.message += checked.to_string();
    }
  } catch (const std::exception& e) {
    r.message = std::string("the fixture could not run: ") + e.what();
  }
  r.seconds = since(t0);
  if (o.on_case) o.on_case(id, 1, !r.passed);
  return r;
}

// The fixtures: the embedded corpus, then the given paths (a given fixture of the same name as
// an embedded one replaces it, and is checked as that one is; any other is replayed and
// gradchecked). Unreadable or invalid files, and those whose program is bad input when run,
// are errors in `errors`: the gate refuses them before running anything.
std::vector<GateTask> fixture_tasks(const std::vector<std::string>& paths, const registry::OpTable& ops,
                                    std::vector<Case>& errors) {
  std::vector<std::tuple<fixtures::Fixture, std::string, bool>> found;  // fixture, source, gradcheck
  for (const EmbeddedFixture& e : embedded_fixtures())
    found.emplace_back(fixtures::parse_fixture_text(e.text, ops), std::string(kEmbedded) + e.path, e.gradcheck);
  Report expanded{"check", {}};
  fixtures::ReplayOptions run;
  run.ops = &ops;
  for (const std::string& file : expand(paths, expanded)) {
    try {
      fixtures::Fixture f = fixtures::read_fixture(file, ops);
      fixtures::replay(f, run);  // bad input found only by running (mismatched shapes, a dim out of range) throws here
      bool gradcheck = true;  // unless it replaces an embedded fixture that is replayed only
      std::erase_if(found, [&](const auto& p) {
        if (std::get<0>(p).name != f.name) return false;
        gradcheck = std::get<2>(p);
        return true;
      });
      found.emplace_back(std::move(f), file, gradcheck);
    } catch (const std::exception& e) {
      errors.push_back({file, file, "error", e.what(), 0, nullptr, "gradoracle.check.fixture"});
    }
  }
  for (Case& c : expanded.cases) errors.push_back(std::move(c));
  std::vector<GateTask> tasks;
  for (auto& [f, source, gradcheck] : found) {
    const std::string id = "fixture/" + f.name;
    tasks.push_back({id, TaskKind::Fixture, "", f.dtype, 1, source,
                     [f = std::move(f), id, gradcheck](const RunOptions& o) { return run_fixture(f, id, gradcheck, o); }});
  }
  return tasks;
}

std::vector<GateTask> property_tasks(const RunOptions& o) {
  std::vector<GateTask> tasks;
  for (properties::Task& t : properties::every_task(o)) {
    GateTask g{t.id, t.kind, t.op, t.dtype, gate_default_cases(t.kind), "", nullptr};
    g.run = [t = std::move(t)](const RunOptions& options) { return properties::run_task(t, options); };
    tasks.push_back(std::move(g));
  }
  return tasks;
}

// What an outside engine runs of the tasks: the fixtures it can run (the rest are reported as
// not run, case by case); op and second-order tasks of the ops it declares, in its dtypes, when
// it runs float64 (finite differences need it); random programs over its ops when it has the
// domain adapters programs use (sin, mul, add); second order when it has grad_of and
// create_graph. Not the structural properties: they test gradoracle's own engine. Returns
// what was left out, for the header line.
std::string engine_tasks(std::vector<GateTask>& tasks, const fixtures::EngineInfo& info) {
  const auto has = [](const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); };
  const bool float64 = has(info.dtypes, "float64");
  const bool adapters = has(info.ops, "sin") && has(info.ops, "mul") && has(info.ops, "add");
  const bool second = has(info.additions, "grad_of") && has(info.additions, "create_graph");
  size_t structural = 0, other = 0;
  std::erase_if(tasks, [&](const GateTask& t) {
    bool out = false;
    switch (t.kind) {
      case TaskKind::Fixture: return false;
      case TaskKind::Structural: ++structural; return true;
      case TaskKind::Op: out = !has(info.ops, t.op); break;
      case TaskKind::Program: out = !adapters; break;
      case TaskKind::SecondOrder: out = !second || (t.op.empty() ? !adapters : !has(info.ops, t.op)); break;
    }
    out = out || !float64 || !has(info.dtypes, name(t.dtype));
    other += out;
    return out;
  });
  std::string left;
  if (structural) left += counted(static_cast<long long>(structural), "structural task") + " (they test gradoracle's own engine)";
  if (other) left += std::string(left.empty() ? "" : ", ") + counted(static_cast<long long>(other), "task") + " of ops, dtypes or additions it does not declare";
  return left;
}

// --op, --task and --dtype: what to run (properties::selected, as the runner selects), then
// this shard. Unknown ops and patterns matching nothing are bad input; the messages suggest
// commands of `program`.
std::vector<GateTask> select(std::vector<GateTask> tasks, const RunOptions& o, const std::string& program) {
  const std::string prog = shell_quote(program);
  for (const std::string& op : o.ops) {
    if (!o.table->find(op)) throw BadInput("--op " + op + ": unknown op (`" + prog + " ops` lists them)");
    if (!std::any_of(tasks.begin(), tasks.end(), [&](const GateTask& t) { return t.op == op; }))
      throw BadInput("--op " + op + ": not swept (not differentiable, or no generator for its arguments)");
  }
  for (const std::string& pattern : o.tasks) {
    if (!std::any_of(tasks.begin(), tasks.end(), [&](const GateTask& t) { return properties::glob_match(pattern, t.id); }))
      throw BadInput("--task " + pattern + ": matches no task (`" + prog + " check --list` lists them)");
  }
  std::erase_if(tasks, [&](const GateTask& t) { return !properties::selected(t.id, t.kind, t.op, t.dtype, o); });
  return properties::take_shard(std::move(tasks), o);
}

int report_bad_input(GateRun& run, const Output& o) {
  std::ostream& os = o.json ? std::cerr : std::cout;
  for (const Case& c : run.errors) os << "ERROR " << c.file << ": " << c.message << "\n";
  os << "gradoracle check: bad input; nothing was run\n";
  if (o.json) std::cout << gate_json(run, kBad).dump(2) << "\n";
  return write_junit(gate_report(run), o, kBad);
}

// What a task is given when it starts: its planned cases and, under a time budget, a deadline:
// its share of the time left, in proportion to its planned cases among those of the tasks not
// yet started (a task that finishes early leaves its time to the rest), times the workers that
// share that time (at most one per task left).
class Schedule {
 public:
  Schedule(const GateRun& run, unsigned workers)
      : run_(run), workers_(workers), weight_from_(run.tasks.size() + 1, 0.0) {
    for (size_t i = run.tasks.size(); i-- > 0;) weight_from_[i] = weight_from_[i + 1] + planned(i);
  }
  int planned(size_t i) const {
    const GateTask& t = run_.tasks[i];
    return t.kind == TaskKind::Fixture ? 1 : run_.cases > 0 ? run_.cases : t.default_cases;
  }
  RunOptions options_for(size_t i, RunOptions o) const {
    o.cases = planned(i);
    if (run_.seconds > 0) {
      const auto now = std::chrono::steady_clock::now();
      const double left = std::max(0.0, std::chrono::duration<double>(end_ - now).count());
      const size_t sharing = std::min<size_t>(workers_, run_.tasks.size() - i);
      const double share = left * planned(i) * static_cast<double>(sharing) / weight_from_[i];
      o.deadline = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(share));
    }
    return o;
  }
  double elapsed() const { return since(t0_); }

 private:
  const GateRun& run_;
  unsigned workers_;
  std::vector<double> weight_from_;  // planned cases of tasks i, i+1, ...
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point end_ =
      t0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(run_.seconds));
};

// A finished task: its planned cases recorded, counted on the progress line, its line printed
// (every line when `plain_lines`, else the failures').
void finish_task(const GateTask& task, PropertyResult& r, int planned, Progress& progress, bool plain_lines) {
  if (r.planned == 0) r.planned = planned;
  progress.finish(!r.passed);
  if (plain_lines || !r.passed) progress.print(task_line(task, r) + (r.passed ? "" : "  (details below)"));
}

// The tasks in `jobs` worker processes (check_workers.hpp), claimed in order; the lines print
// in task order.
void run_tasks_in_workers(GateRun& run, const RunOptions& options, Progress& progress, bool plain_lines,
                          unsigned jobs) {
  const size_t n = run.tasks.size();
  run.jobs = static_cast<unsigned>(std::min<size_t>(jobs, n));
  const Schedule schedule(run, run.jobs);
  std::vector<std::optional<PropertyResult>> results(n);
  size_t printed = 0;
  // The progress line shows the task started last, then, when it ends, the earliest still running.
  std::map<size_t, int> running;  // task -> its cases so far
  size_t shown = n;
  WorkerEvents events;
  events.started = [&](size_t i) {
    running[i] = 0;
    shown = i;
    progress.start(run.tasks[i], schedule.planned(i));
  };
  events.cases = [&](size_t i, int cases) {
    running[i] = cases;
    if (i == shown) progress.update(cases);
  };
  events.finished = [&](size_t i, PropertyResult&& r) {
    running.erase(i);
    if (i == shown && !running.empty()) {
      shown = running.begin()->first;
      progress.show(run.tasks[shown], schedule.planned(shown), running.begin()->second);
    }
    results[i] = std::move(r);
    for (; printed < n && results[printed]; ++printed)
      finish_task(run.tasks[printed], *results[printed], schedule.planned(printed), progress, plain_lines);
  };
  events.before_fork = [&] { progress.pause(); };
  events.after_fork = [&] { progress.resume(); };
  run_in_workers(run.tasks, run.jobs, [&](size_t i) { return schedule.options_for(i, options); }, events);
  for (std::optional<PropertyResult>& r : results) run.results.push_back(std::move(*r));
  progress.done();
  run.elapsed = schedule.elapsed();
}

// Runs the tasks, each given its Schedule. After run.maxfail failed tasks the rest are not run
// (run.not_run; run.tasks keeps those run). With jobs > 1, in worker processes
// (run_tasks_in_workers), unless --maxfail or an outside engine asks for one task at a time.
void run_tasks(GateRun& run, RunOptions options, Progress& progress, bool plain_lines, unsigned jobs) {
  if (jobs > 1 && run.tasks.size() > 1 && run.maxfail == 0 && options.engine == nullptr)
    return run_tasks_in_workers(run, options, progress, plain_lines, jobs);
  const Schedule schedule(run, 1);
  options.on_case = [&](const std::string&, int cases, bool) { progress.update(cases); };
  int failed = 0;
  for (size_t i = 0; i < run.tasks.size(); ++i) {
    const GateTask& task = run.tasks[i];
    if (run.maxfail > 0 && failed >= run.maxfail) {
      run.not_run.push_back(task.id);
      continue;
    }
    progress.start(task, schedule.planned(i));
    PropertyResult r = task.run(schedule.options_for(i, options));
    finish_task(task, r, schedule.planned(i), progress, plain_lines);
    failed += !r.passed;
    run.results.push_back(std::move(r));
  }
  run.tasks.resize(run.results.size());
  progress.done();
  run.elapsed = schedule.elapsed();
}

}  // namespace

std::optional<uint64_t> parse_seed(const std::string& text) {
  uint64_t seed = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, seed);
  if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
  return seed;
}

int cmd_check(const CheckArgs& a, const Output& o, const registry::OpTable& table) {
  GateRun run;
  run.program = a.program;
  run.paths = a.paths;
  RunOptions options;
  options.table = &table;
  std::unique_ptr<fixtures::EngineProcess> engine;
  std::string engine_left;  // tasks the engine does not run
  try {
    std::vector<std::string> reproduced;
    if (a.reproduce.empty()) run.seed = seed_of(a.seed);
    else std::tie(reproduced, run.seed) = read_reproduce(a.reproduce);
    std::tie(run.shard_index, run.shard_count) = parse_shard(a.shard);
    run.cases = a.cases.value_or(0);
    run.seconds = a.seconds.value_or(0);
    options.seed = run.seed;
    options.cases = run.cases;
    if (!a.counterexample_dir.empty()) options.counterexample_dir = a.counterexample_dir;
    options.rerun_saved = true;
    run.counterexample_dir = options.counterexample_dir.string();
    run.counterexample_dir_given = !a.counterexample_dir.empty();
    run.maxfail = a.maxfail;
    options.reproduce = a.reproduce;
    options.shard_index = run.shard_index;
    options.shard_count = run.shard_count;
    options.ops = a.ops;
    options.tasks = a.tasks;
    if (!a.dtypes.empty()) {
      options.dtypes.clear();
      for (const std::string& d : a.dtypes) options.dtypes.push_back(d == "float32" ? DType::Float32 : DType::Float64);
    }
    std::vector<GateTask> tasks = fixture_tasks(a.paths, table, run.errors);
    if (!run.errors.empty()) return report_bad_input(run, o);
    if (!a.engine.command.empty()) {
      fixtures::EngineOptions eo;
      eo.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.engine.timeout_seconds * 1000));
      eo.stop_after_fault = true;
      engine = std::make_unique<fixtures::EngineProcess>(a.engine.command, eo);
      run.engine = a.engine.command;
      options.engine = engine.get();
      const fixtures::EngineInfo& info = engine->info();
      for (const registry::OpSpec* op : properties::fuzzable_ops(table))  // programs draw the engine's ops
        if (std::find(info.ops.begin(), info.ops.end(), op->name) != info.ops.end()) options.program_ops.push_back(op->name);
    }
    for (GateTask& t : property_tasks(options)) tasks.push_back(std::move(t));
    if (engine) engine_left = engine_tasks(tasks, engine->info());
    run.tasks = select(std::move(tasks), options, run.program);
    if (!reproduced.empty()) run.tasks = narrow_to(std::move(run.tasks), reproduced);
  } catch (const BadInput& e) {
    std::cerr << "gradoracle check: " << e.what() << "\n";
    return kBad;
  } catch (const fixtures::EngineFault& e) {
    std::cerr << "gradoracle check: " << e.what() << "\n";
    if (!e.stderr_tail.empty()) std::cerr << "its stderr ends:\n" << e.stderr_tail << "\n";
    return kBad;
  }
  if (a.list) {
    for (const GateTask& t : run.tasks) std::cout << t.id << "\n";
    return kPass;
  }

  std::ostream& os = o.json ? std::cerr : std::cout;
  const int fd = o.json ? STDERR_FILENO : STDOUT_FILENO;
  const bool terminal = ::isatty(fd) == 1;
  const bool redraw = a.progress || (terminal && !a.no_progress);
  os << "gradoracle check: " << counted(static_cast<long long>(run.tasks.size()), "task") << ", seed " << run.seed;
  if (run.shard_count > 1) os << ", shard " << run.shard_index << "/" << run.shard_count;
  if (run.cases > 0) os << ", " << counted(run.cases, "case") << " per property";
  if (run.seconds > 0) os << ", time budget " << run.seconds << " s";
  if (!a.reproduce.empty()) {
    os << "; --reproduce replays the shrunk case of";
    for (const GateTask& t : run.tasks) os << " " << t.id;
  }
  os << "\n";
  if (engine) {
    os << "engine: " << engine->info().engine << " (`" << a.engine.command << "`)";
    if (!engine_left.empty()) os << "; not run through it: " << engine_left;
    os << "\n";
  }
  Progress progress(os, fd, redraw, run.tasks.size());
  run_tasks(run, options, progress, !redraw, a.jobs);

  os << "\n" << summary_table(run);
  for (size_t i = 0; i < run.tasks.size(); ++i)
    if (!run.results[i].passed) os << "\n" << failure_text(run, run.tasks[i], run.results[i]);
  const bool failed = std::any_of(run.results.begin(), run.results.end(), [](const auto& r) { return !r.passed; });
  const bool checked = std::any_of(run.results.begin(), run.results.end(), [](const auto& r) { return r.cases > 0; });
  if (!checked)
    os << "\nnothing was checked: no task ran a case (the time budget ran out first, or no task is selected); exit "
       << kNothingChecked << ", not a pass\n";
  const fixtures::EngineFault* fault = engine ? engine->stopping_fault() : nullptr;
  if (fault) {
    os << "\nthe engine broke the protocol, so the tasks after it could not be checked: " << fault->what() << "\n";
    if (!fault->stderr_tail.empty()) os << "its stderr ends:\n" << fault->stderr_tail << "\n";
  }
  const int code = fault ? kBad : failed ? kFail : checked ? kPass : kNothingChecked;
  if (o.json) std::cout << gate_json(run, code).dump(2) << "\n";
  return write_junit(gate_report(run), o, code);
}

}  // namespace gradoracle::cli
