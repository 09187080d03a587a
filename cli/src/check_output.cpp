// What `gradoracle check` prints and writes: progress, task lines, failures with the commands
// that reproduce them, the summary table, --json and the JUnit report.
#include <sys/ioctl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "check.hpp"

namespace gradoracle::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using properties::PropertyResult;
using properties::TaskKind;

namespace {

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// The share of the tolerance used, as a percentage ("12.3%"; ">999%" beyond ten times it).
std::string percent(double ratio) { return ratio > 9.99 ? ">999%" : format("%.1f%%", 100 * ratio); }

// Worst errors are measured by gradchecks (fixtures, op and program sweeps), not by the
// structural properties, which compare engine runs with each other.
bool measures_error(const GateTask& t) { return t.kind != TaskKind::Structural; }

// The diagnosis without what the failure block says itself: RapidCheck's "file.cpp:184:" and
// "RC_FAIL(msg.str())" preamble, and blank lines.
std::vector<std::string> diagnosis_lines(const std::string& message) {
  std::vector<std::string> lines;
  std::istringstream in(message);
  for (std::string line; std::getline(in, line);) {
    const auto text = line.find_first_not_of(' ');
    if (text == std::string::npos) continue;
    const std::string t = line.substr(text);
    if ((t.back() == ':' && t.find(".cpp:") != std::string::npos) || t.starts_with("RC_FAIL(")) continue;
    lines.push_back(line);
  }
  return lines;
}

// The diagnosis as one text: its lines, without RapidCheck's source lines (diagnosis_lines).
std::string diagnosis(const std::string& message) {
  std::string text;
  for (const std::string& line : diagnosis_lines(message)) text += (text.empty() ? "" : "\n") + line;
  return text;
}

std::string first_line(const std::string& message) {
  const auto lines = diagnosis_lines(message);
  return lines.empty() ? "" : lines.front().substr(lines.front().find_first_not_of(' '));
}

// An object keyed by each task kind present ("fixture", "op", ...): its tasks, their cases and
// summed wall seconds, and cases_per_second = cases / seconds (null if the seconds are 0). The
// tasks of a kind sum to its entry; tasks run one after another and their seconds exclude the
// run's set-up, so the kinds' seconds add up to at most the run's elapsed seconds.
json by_kind(const GateRun& run) {
  json kinds = json::object();
  for (const TaskKind k : {TaskKind::Fixture, TaskKind::Op, TaskKind::Program, TaskKind::SecondOrder, TaskKind::Structural}) {
    long tasks = 0, cases = 0;
    double seconds = 0;
    for (size_t i = 0; i < run.results.size(); ++i) {
      if (run.tasks[i].kind != k) continue;
      ++tasks;
      cases += run.results[i].cases;
      seconds += run.results[i].seconds;
    }
    if (tasks == 0) continue;
    kinds[name(k)] = {{"tasks", tasks}, {"cases", cases}, {"seconds", seconds},
                      {"cases_per_second", seconds > 0 ? json(cases / seconds) : json(nullptr)}};
  }
  return kinds;
}

}  // namespace

std::string status(const PropertyResult& r) {
  if (!r.passed) return "fail";
  return r.cases == 0 && r.stopped_early ? "stopped" : "pass";
}

std::vector<std::string> reproduce_commands(const GateRun& run, const GateTask& task, const PropertyResult& r) {
  std::vector<std::string> commands;
  const std::string prog = shell_quote(run.program);
  const std::string engine = run.engine.empty() ? "" : " --engine " + shell_quote(run.engine);
  const bool fixture = task.kind == TaskKind::Fixture;
  const bool embedded = fixture && task.source.starts_with(kEmbedded);
  const std::string file = !fixture ? r.fixture.string() : embedded ? task.source.substr(kEmbedded.size()) : task.source;
  // An embedded fixture's file is relative to the source tree: only there can a command read it.
  if (!file.empty() && (!embedded || fs::exists(file))) {
    if (r.gradcheck_fails) commands.push_back(prog + " gradcheck " + shell_quote(file) + engine);
    if (r.replay_fails) commands.push_back(prog + " replay " + shell_quote(file) + engine);
  }
  // The same search: the seed and the cases asked for (RapidCheck sizes its cases by them; a
  // --reproduce line carries them too, for the search line its own run prints).
  const std::string cases = fixture ? "" : " --cases " + std::to_string(run.cases > 0 ? run.cases : task.default_cases);
  std::string check = prog + " check --seed " + std::to_string(run.seed);
  if (task.kind == TaskKind::Op) check += " --op " + shell_quote(task.op) + " --dtype " + name(task.dtype);
  else check += " --task " + shell_quote(task.id);
  check += cases;
  if (fixture && !embedded) check += " " + shell_quote(file);
  // Where this run wrote counterexamples, when it was told: the search and the exact case write there too.
  const std::string dir = !fixture && run.counterexample_dir_given ? " --counterexamples " + shell_quote(run.counterexample_dir) : "";
  check += dir;
  commands.push_back(check + engine);
  if (!r.reproduce.empty())
    commands.push_back(prog + " check --task " + shell_quote(task.id) + cases + " --reproduce " + shell_quote(r.reproduce) +
                       dir + engine);
  return commands;
}

std::string task_line(const GateTask& task, const PropertyResult& r) {
  std::string tag = status(r) == "pass" ? "PASS" : status(r) == "fail" ? "FAIL" : "STOP";
  std::ostringstream os;
  os << tag << " " << task.id << "  " << counted(r.cases, "case");
  if (r.stopped_early) os << " of " << r.planned << " (time budget)";
  if (r.saved > 0) os << " (" << r.saved << " saved by an earlier run, re-run first)";
  if (measures_error(task) && r.cases > 0)
    os << "  worst abs " << format("%.1e", r.worst_abs) << " rel " << format("%.1e", r.worst_rel) << " ("
       << percent(r.worst_ratio) << " of tolerance)";
  os << "  " << format("%.2f", r.seconds) << " s";
  if (!r.passed) os << ": " << first_line(r.message);
  return os.str();
}

std::string failure_text(const GateRun& run, const GateTask& task, const PropertyResult& r) {
  std::ostringstream os;
  os << "FAILED " << task.id << " (seed " << run.seed << ", after " << r.cases << " of " << counted(r.planned, "case") << ")\n";
  for (const std::string& line : diagnosis_lines(r.message)) os << "  " << line << "\n";
  if (!r.counterexample.empty()) {
    os << "  shrunk case:\n";
    std::istringstream shrunk(r.counterexample);
    for (std::string line; std::getline(shrunk, line);) os << "    " << line << "\n";
  }
  if (task.kind == TaskKind::Fixture) os << "  fixture: " << task.source << "\n";
  else if (!r.fixture.empty()) os << "  fixture: " << r.fixture.string() << "\n";
  os << "  reproduce:\n";
  for (const std::string& c : reproduce_commands(run, task, r)) os << "    " << c << "\n";
  return os.str();
}

std::string summary_table(const GateRun& run) {
  size_t width = 4;
  for (const GateTask& t : run.tasks) width = std::max(width, t.id.size());
  std::ostringstream os;
  auto row = [&](const std::string& id, const std::string& cases, const std::string& abs, const std::string& rel,
                 const std::string& used, const std::string& time, const std::string& st) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%-*s %9s %10s %10s %9s %8s  %s\n", static_cast<int>(width), id.c_str(),
                  cases.c_str(), abs.c_str(), rel.c_str(), used.c_str(), time.c_str(), st.c_str());
    os << buf;
  };
  row("task", "cases", "worst abs", "worst rel", "tol used", "time", "status");
  long total_cases = 0;
  int passed = 0, failed = 0, stopped_early = 0, no_case = 0;
  for (size_t i = 0; i < run.tasks.size(); ++i) {
    const GateTask& t = run.tasks[i];
    const PropertyResult& r = run.results[i];
    const bool measured = measures_error(t) && r.cases > 0;
    row(t.id, std::to_string(r.cases), measured ? format("%.1e", r.worst_abs) : "-",
        measured ? format("%.1e", r.worst_rel) : "-", measured ? percent(r.worst_ratio) : "-",
        format("%.2fs", r.seconds),
        status(r) + (r.stopped_early && r.cases > 0 ? " (budget)" : ""));
    total_cases += r.cases;
    passed += status(r) == "pass";
    failed += !r.passed;
    no_case += status(r) == "stopped";
    stopped_early += r.stopped_early;
  }
  os << "worst abs/rel: largest |analytic - numeric| over the checker's worst entries (rel divides by the larger\n"
        "side: near 1 where both are ~0); tol used: largest error / its allowance (an entry fails above 100%)\n";
  os << "\n" << counted(static_cast<long long>(run.tasks.size()), "task") << ": " << passed << " passed, " << failed << " failed";
  if (no_case > 0) os << ", " << no_case << " ran no case";
  os << "; " << counted(total_cases, "case") << " in " << format("%.1f", run.elapsed) << " s (seed " << run.seed;
  if (run.shard_count > 1) os << ", shard " << run.shard_index << "/" << run.shard_count;
  os << ")\n";
  const json kinds = by_kind(run);
  if (kinds.size() > 1) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-14s %6s %10s %9s %10s\n", "by kind", "tasks", "cases", "seconds", "cases/s");
    os << buf;
    for (const auto& [kind, k] : kinds.items()) {
      const std::string rate = k["cases_per_second"].is_null() ? "-" : format("%.0f", k["cases_per_second"].get<double>());
      std::snprintf(buf, sizeof buf, "  %-12s %6ld %10ld %9.2f %10s\n", kind.c_str(), k["tasks"].get<long>(),
                    k["cases"].get<long>(), k["seconds"].get<double>(), rate.c_str());
      os << buf;
    }
  }
  if (stopped_early > 0)
    os << "time budget of " << run.seconds << " s reached: " << stopped_early << " of " << run.tasks.size()
       << (run.tasks.size() == 1 ? " task" : " tasks") << " stopped early (fewer cases than planned)\n";
  if (!run.not_run.empty())
    os << "stopped after " << failed << " failed " << (failed == 1 ? "task" : "tasks") << " (--maxfail " << run.maxfail
       << "): " << run.not_run.size() << " not run\n";
  int saved = 0, saved_failed = 0;
  for (const PropertyResult& r : run.results) {
    saved += r.saved;
    saved_failed += r.saved_failed;
    for (const std::string& why : r.saved_unreadable) os << "saved case not re-run: " << why << "\n";
    for (const std::string& why : r.saved_not_judged)
      os << "saved case not judged (the property draws again at such a point; delete the file): " << why << "\n";
  }
  if (saved > 0)
    os << saved << " saved " << (saved == 1 ? "case" : "cases") << " from " << run.counterexample_dir
       << " re-run first: " << saved_failed << " failed again\n";
  return os.str();
}

json gate_json(const GateRun& run, int exit_code) {
  json tasks = json::array();
  int passed = 0, failed = 0, stopped = 0, saved = 0, saved_failed = 0;
  long cases = 0;
  for (size_t i = 0; i < run.results.size(); ++i) {
    const GateTask& t = run.tasks[i];
    const PropertyResult& r = run.results[i];
    json j = {{"id", t.id},           {"kind", name(t.kind)},         {"dtype", name(t.dtype)},
              {"status", status(r)},  {"cases", r.cases},       {"planned", r.planned},
              {"discarded", r.discarded}, {"stopped_early", r.stopped_early}, {"seconds", r.seconds}};
    if (!t.op.empty()) j["op"] = t.op;
    if (t.kind == TaskKind::Op) j["references"] = r.references;
    if (t.kind == TaskKind::Op || t.kind == TaskKind::Program || t.kind == TaskKind::SecondOrder) j["saved"] = r.saved;
    if (!r.saved_unreadable.empty()) j["saved_unreadable"] = r.saved_unreadable;
    if (!r.saved_not_judged.empty()) j["saved_not_judged"] = r.saved_not_judged;
    if (!t.source.empty()) j["source"] = t.source;
    if (measures_error(t)) {
      j["worst_abs"] = r.worst_abs;
      j["worst_rel"] = r.worst_rel;
      j["tolerance_used"] = r.worst_ratio;
    }
    if (t.kind == TaskKind::Op || t.kind == TaskKind::Program || t.kind == TaskKind::SecondOrder) j["digest"] = std::to_string(r.digest);
    if (!r.passed) {
      j["message"] = diagnosis(r.message);
      if (!r.counterexample.empty()) j["counterexample"] = r.counterexample;
      if (!r.fixture.empty()) j["fixture"] = r.fixture.string();
      if (!r.reproduce.empty()) j["rc_params"] = r.reproduce;
      j["reproduce"] = reproduce_commands(run, t, r);
    }
    tasks.push_back(std::move(j));
    passed += r.passed;
    failed += !r.passed;
    stopped += r.stopped_early;
    cases += r.cases;
    saved += r.saved;
    saved_failed += r.saved_failed;
  }
  json errors = json::array();
  for (const Case& c : run.errors) errors.push_back({{"file", c.file}, {"message", c.message}});
  return {{"command", "check"},
          {"exit_code", exit_code},
          {"seed", std::to_string(run.seed)},  // a string: JSON readers round integers above 2^53
          {"shard", {{"index", run.shard_index}, {"count", run.shard_count}}},
          {"jobs", run.jobs},
          {"budget", {{"cases", run.cases > 0 ? json(run.cases) : json(nullptr)},
                      {"seconds", run.seconds > 0 ? json(run.seconds) : json(nullptr)},
                      {"stopped_early", stopped > 0}}},
          {"summary", {{"tasks", run.results.size()}, {"passed", passed}, {"failed", failed},
                       {"stopped_early", stopped}, {"cases", cases}, {"errors", run.errors.size()},
                       {"not_run", run.not_run.size()}, {"saved", saved}, {"saved_failed", saved_failed},
                       {"seconds", run.elapsed}, {"by_kind", by_kind(run)}}},
          {"counterexamples", run.counterexample_dir},
          {"not_run", run.not_run},
          {"errors", std::move(errors)},
          {"tasks", std::move(tasks)}};
}

Report gate_report(const GateRun& run) {
  Report report{"check", run.errors};
  report.started = run.started;
  report.properties = {{"seed", std::to_string(run.seed)},
                       {"shard", std::to_string(run.shard_index) + "/" + std::to_string(run.shard_count)},
                       {"budget.cases", run.cases > 0 ? std::to_string(run.cases) : "default"},
                       {"budget.seconds", run.seconds > 0 ? format("%g", run.seconds) : "none"}};
  for (size_t i = 0; i < run.results.size(); ++i) {
    const GateTask& t = run.tasks[i];
    const PropertyResult& r = run.results[i];
    const std::string st = status(r);
    Case c{t.id, t.source, st == "stopped" ? "skip" : st, "", r.seconds, nullptr, "gradoracle.check." + std::string(name(t.kind))};
    if (st == "stopped") c.message = "time budget spent before any case";
    if (!r.passed) {
      c.message = first_line(r.message);
      c.detail = failure_text(run, t, r);
      if (c.file.empty()) c.file = r.fixture.string();  // the shrunk case's fixture
    }
    report.cases.push_back(std::move(c));
  }
  for (const std::string& id : run.not_run)
    report.cases.push_back({id, "", "skip", "not run: --maxfail " + std::to_string(run.maxfail) + " failed tasks came first",
                            0, nullptr, "gradoracle.check"});
  return report;
}

int terminal_width(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const long c = std::strtol(columns, &end, 10);
    if (end != columns && *end == '\0' && c > 0 && c < 100000) return static_cast<int>(c);
  }
  return 80;
}

std::string progress_line(size_t k, size_t n, const std::string& id, int cases, int planned, int failures,
                          double seconds, int width) {
  const size_t room = static_cast<size_t>(std::max(width - 1, 1));
  const std::string head = "[" + std::to_string(k) + "/" + std::to_string(n) + "] ";
  const std::string count = "  " + std::to_string(cases) + "/" + std::to_string(planned);
  const std::string time = format("%.1f", seconds) + " s";
  // The most the width holds: every field, then shorter counts, then the count alone.
  for (const std::string& tail : {count + " cases  " + std::to_string(failures) + " failed  " + time,
                                  count + "  " + std::to_string(failures) + " fail  " + time, count}) {
    const size_t used = head.size() + tail.size();
    const size_t id_room = used < room ? room - used : 0;
    if (id.size() <= id_room) return head + id + tail;
    if (id_room >= 12) return head + id.substr(0, id_room - 3) + "..." + tail;
  }
  return (head + id + count).substr(0, room);
}

Progress::Progress(std::ostream& os, int fd, bool redraw, size_t tasks)
    : os_(os), fd_(fd), redraw_(redraw), tasks_(tasks), t0_(std::chrono::steady_clock::now()) {
  start_ticker();
}

void Progress::start_ticker() {
  if (!redraw_) return;
  ticker_ = std::jthread([this](std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, stop, std::chrono::milliseconds(100), [] { return false; }) &&
           !stop.stop_requested())
      draw();
  });
}

void Progress::pause() {
  if (!ticker_.joinable()) return;
  ticker_.request_stop();
  ticker_.join();
}

void Progress::resume() {
  if (!ticker_.joinable()) start_ticker();
}

Progress::~Progress() { done(); }

void Progress::start(const GateTask& task, int planned) {
  const std::lock_guard lock(mutex_);
  id_ = task.id;
  ++started_;
  cases_ = 0;
  planned_ = planned;
  draw();
}

void Progress::show(const GateTask& task, int planned, int cases) {
  const std::lock_guard lock(mutex_);
  id_ = task.id;
  cases_ = cases;
  planned_ = planned;
  draw();
}

void Progress::update(int cases) {
  const std::lock_guard lock(mutex_);
  cases_ = cases;
}

void Progress::finish(bool failed) {
  const std::lock_guard lock(mutex_);
  failures_ += failed;
}

void Progress::print(const std::string& line) {
  const std::lock_guard lock(mutex_);
  if (redraw_) os_ << "\r\033[K";
  os_ << line << "\n" << std::flush;
}

void Progress::done() {
  if (ticker_.joinable()) {
    ticker_.request_stop();
    ticker_.join();
  }
  const std::lock_guard lock(mutex_);
  if (redraw_ && !id_.empty()) os_ << "\r\033[K" << std::flush;
  id_.clear();
}

void Progress::draw() {
  if (!redraw_ || id_.empty()) return;
  os_ << "\r\033[K"
      << progress_line(started_, tasks_, id_, cases_, planned_, failures_, since(t0_),
                       terminal_width(fd_))
      << std::flush;
}

}  // namespace gradoracle::cli
