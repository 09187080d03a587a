// The fixture subcommands: replay, gradcheck, generate, ops.
#include <algorithm>
#include <chrono>
#include <memory>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "gradoracle/engine/op_rules.hpp"
#include "gradoracle/engine/registry.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/engine.hpp"
#include "gradoracle/fixtures/engine_check.hpp"
#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/properties/generate.hpp"

namespace gradoracle::cli {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace gradoracle::fixtures;

// ---------------------------------------------------------------- replay, gradcheck

namespace {

// One fixture file judged into its case: unreadable or bad input is an "error" case.
Case judge_file(const std::string& file, const registry::OpTable& ops,
               const std::function<void(const Fixture&, Case&)>& judge) {
  const auto t0 = std::chrono::steady_clock::now();
  Case c{file, file, "", "", 0, nullptr, ""};
  try {
    const Fixture f = read_fixture(file, ops);
    c.name = f.name;
    judge(f, c);
  } catch (const FixtureError& e) {
    c.status = "error";
    c.message = e.what();
  } catch (const std::exception& e) {
    c.status = "error";
    c.message = std::string("internal error: ") + e.what();
  }
  c.seconds = since(t0);
  return c;
}

// Runs `judge` on each fixture of `paths` (FILE|DIR...), one line and one case each. With
// jobs > 1, that many threads take the files in order; the lines are printed (and the cases
// kept) in file order as they complete, so the output is the same for any number of jobs.
// `before` (e.g. faults of work done ahead) are reported first.
int for_each_fixture(const std::string& command, const std::vector<std::string>& paths, unsigned jobs,
                     const Output& o, const registry::OpTable& ops,
                     const std::function<void(const Fixture&, Case&)>& judge, std::vector<Case> before = {}) {
  Report report{command, std::move(before)};
  const auto files = expand(paths, report);
  for (const Case& c : report.cases) print_line(c, o.json);
  const unsigned workers = static_cast<unsigned>(std::min<size_t>(std::max(1u, jobs), files.size()));
  if (workers <= 1) {
    for (const std::string& file : files) {
      report.cases.push_back(judge_file(file, ops, judge));
      print_line(report.cases.back(), o.json);
    }
    return finish(report, o);
  }
  // The calling thread is one of the workers. Whichever finishes a case prints every case
  // ready in file order from there (under the lock), so no thread waits to print and the
  // output streams in order.
  std::vector<std::optional<Case>> done(files.size());
  std::mutex mutex;
  size_t printed = 0;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < files.size();) {
      Case c = judge_file(files[i], ops, judge);
      const std::lock_guard lock(mutex);
      done[i] = std::move(c);
      for (; printed < files.size() && done[printed]; ++printed) {
        print_line(*done[printed], o.json);
        report.cases.push_back(std::move(*done[printed]));
        done[printed].reset();
      }
    }
  };
  {
    std::vector<std::jthread> threads;
    for (unsigned w = 1; w < workers; ++w) threads.emplace_back(work);
    work();
  }
  return finish(report, o);
}

// Whether a case's detail (its subcommand's JSON report) is written anywhere: under --json,
// and in a JUnit file for a failure. Building it costs as much as a small fixture's check.
bool wants_detail(const Output& o, const Case& c) { return o.json || (!o.junit_file.empty() && c.status == "fail"); }

}  // namespace

namespace {

// An outside engine's fixtures, one at a time (the protocol's rule; fixtures are read in
// parallel): `judge` runs under the lock. A protocol fault is the case's error (exit 2) with
// the engine's stderr tail; what the engine cannot run, or refused, is skipped.
class OutsideEngine {
 public:
  explicit OutsideEngine(const EngineArgs& a) {
    if (a.command.empty()) return;
    EngineOptions eo;
    eo.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout_seconds * 1000));
    process_ = std::make_unique<EngineProcess>(a.command, eo);
  }
  explicit operator bool() const { return process_ != nullptr; }
  // Replays the fixtures of `paths` the engine can run, kReplayBatch per request, ahead of the
  // cases (replayed(FILE) then answers): one round trip per batch, not per fixture. A batch the
  // engine faults on or refuses is left to the cases, one fixture per request, so a fault names
  // its fixture; a batch's protocol fault is returned as an error case too (a fault that does
  // not come back, a crash once, is still a fault). Unreadable files are left to the cases.
  std::vector<Case> replay_ahead(const std::vector<std::string>& paths, const registry::OpTable& ops) {
    std::vector<Case> faults;
    try {
      process_->info();
    } catch (const std::exception&) {
      return faults;  // the cases report it
    }
    Report scratch{"replay", {}};
    const std::vector<std::string> files = expand(paths, scratch);
    std::vector<std::pair<std::string, Fixture>> batch;
    auto flush = [&] {
      std::vector<const Fixture*> fixtures;
      for (const auto& [file, f] : batch) fixtures.push_back(&f);
      try {
        std::vector<ReplayResult> results = replay_in(*process_, fixtures);
        for (size_t i = 0; i < batch.size(); ++i) replayed_.emplace(batch[i].first, std::move(results[i]));
      } catch (const EngineFault& e) {
        const std::string what = "the engine faulted on a batch of " + std::to_string(batch.size()) + " fixtures (" +
                                 batch.front().first + " ... " + batch.back().first + "; each is run again alone): " + e.what() +
                                 (e.stderr_tail.empty() ? "" : "; its stderr ends: " + json(e.stderr_tail).dump());
        faults.push_back(Case{"engine batch", batch.front().first, "error", what, 0, nullptr, ""});
      } catch (const std::exception&) {
        // refused: the cases run these one by one and say which
      }
      batch.clear();
    };
    for (const std::string& file : files) {
      try {
        Fixture f = read_fixture(file, ops);
        if (!process_->info().cannot_run(f).empty()) continue;
        batch.emplace_back(file, std::move(f));
      } catch (const std::exception&) {
        continue;
      }
      if (batch.size() == kReplayBatch) flush();
    }
    if (!batch.empty()) flush();
    return faults;
  }
  // The result replay_ahead got for `file`, if it did.
  const ReplayResult* replayed(const std::string& file) const {
    const auto it = replayed_.find(file);
    return it == replayed_.end() ? nullptr : &it->second;
  }
  // False when the case is settled (skip or error) without a verdict from `judge`.
  bool run(const Fixture& f, Case& c, const std::function<void(EngineProcess&)>& judge) {
    try {
      const std::lock_guard lock(mutex_);
      if (const std::string why = process_->info().cannot_run(f); !why.empty()) {
        c.status = "skip";
        c.message = why;
        return false;
      }
      judge(*process_);
      return true;
    } catch (const EngineFault& e) {
      c.status = "error";
      c.message = e.what();
      if (!e.stderr_tail.empty()) c.message += "; its stderr ends: " + json(e.stderr_tail).dump();
    } catch (const FixtureError&) {
      throw;
    } catch (const std::runtime_error& e) {  // the engine refused the fixture
      c.status = "skip";
      c.message = e.what();
    }
    return false;
  }

 private:
  std::unique_ptr<EngineProcess> process_;
  std::mutex mutex_;
  std::map<std::string, ReplayResult> replayed_;  // by file, from replay_ahead
};

}  // namespace

int cmd_replay(const std::vector<std::string>& paths, unsigned jobs, const Output& o, const registry::OpTable& ops,
               const EngineArgs& engine) {
  OutsideEngine outside(engine);
  std::vector<Case> faults = outside ? outside.replay_ahead(paths, ops) : std::vector<Case>{};
  return for_each_fixture("replay", paths, jobs, o, ops, [&](const Fixture& f, Case& c) {
    ReplayResult r;
    if (const ReplayResult* ahead = outside ? outside.replayed(c.file) : nullptr) {
      r = *ahead;
    } else if (outside) {
      if (!outside.run(f, c, [&](EngineProcess& e) { r = replay_in(e, f); })) return;
    } else {
      ReplayOptions run;
      run.ops = &ops;
      r = replay(f, run);
    }
    c.status = r.passed() ? "pass" : "fail";
    if (wants_detail(o, c)) c.detail = r.to_json();
    if (r.passed()) {
      c.message = counted(static_cast<long long>(r.expects), "expect") + (r.raises ? ", " + counted(static_cast<long long>(r.raises), "raise") : "");
    } else {
      c.message = r.failures.front().to_string();
      if (r.failures.size() > 1) c.message += " (and " + std::to_string(r.failures.size() - 1) + " more)";
    }
  }, std::move(faults));
}

int cmd_serve(const std::string& version, const registry::OpTable& ops) {
  // std::cin with a buffer of its own (read in blocks), not in step with C stdio character by character.
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::cout << serve_request(line, version, ops) << "\n" << std::flush;
  }
  return kPass;
}

int cmd_gradcheck(const std::vector<std::string>& paths, const oracle::GradCheckOptions& options, unsigned jobs,
                  const Output& o, const registry::OpTable& ops, const EngineArgs& engine) {
  OutsideEngine outside(engine);
  return for_each_fixture("gradcheck", paths, jobs, o, ops, [&](const Fixture& f, Case& c) {
    FixtureCheck r;
    if (outside) {
      if (!outside.run(f, c, [&](EngineProcess& e) { r = gradcheck_in(e, f, options, ops); })) return;
    } else {
      r = gradcheck_fixture(f, options, ops);
    }
    c.status = name(r.status);
    if (wants_detail(o, c)) c.detail = r.to_json();
    if (r.status == CheckStatus::Pass) {
      c.message = counted(static_cast<long long>(r.inputs.size()), "input") + ", " + counted(static_cast<long long>(r.outputs.size()), "output");
      if (r.result && r.result->has_kinks()) c.message += ", " + counted(r.result->kink_count, "kink");
    } else if (r.status == CheckStatus::Skip) {
      c.message = r.reason;
    } else {
      std::string s = r.result ? r.result->to_string() : r.reason;
      std::replace(s.begin(), s.end(), '\n', ' ');
      c.message = s;
    }
  });
}

// ---------------------------------------------------------------- generate

namespace {

std::string file_name(const std::string& fixture_name) {
  std::string s = fixture_name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '-';
  return s + ".json";
}

}  // namespace

int cmd_generate(const std::vector<std::string>& op_names, bool all, int programs, bool references, uint64_t seed,
                 const std::string& dtype, const std::string& out_dir, const Output& o, const registry::OpTable& ops) {
  Report report{"generate", {}};
  properties::GenerateOptions g;
  g.seed = seed;
  g.dtype = dtype == "float32" ? DType::Float32 : DType::Float64;
  std::vector<const registry::OpSpec*> specs;
  if (all)
    for (const registry::OpSpec& s : ops.ops()) specs.push_back(&s);
  for (const std::string& n : op_names) {
    const registry::OpSpec* s = ops.find(n);
    if (!s) {
      std::cerr << "gradoracle generate: unknown op \"" << n << "\" (see `" << shell_quote(o.program) << " ops`)\n";
      return kBad;
    }
    specs.push_back(s);
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) {
    std::cerr << "gradoracle generate: cannot create " << out_dir << "\n";
    return kBad;
  }
  auto emit = [&](const std::function<properties::GeneratedFixture()>& make, const std::string& label) {
    const auto t0 = std::chrono::steady_clock::now();
    Case c{label, "", "", "", 0, nullptr, ""};
    try {
      const properties::GeneratedFixture g = make();
      const Fixture& f = g.fixture;
      c.name = f.name;
      const fs::path path = fs::path(out_dir) / file_name(f.name);
      c.file = path.string();
      write_fixture(f, path);
      c.status = g.verdict.passed() ? "pass" : "fail";
      c.message = g.verdict.status == CheckStatus::Pass   ? std::string("finite differences pass")
                  : g.verdict.status == CheckStatus::Skip ? "finite differences: nothing to check (" + g.verdict.reason + ")"
                                                          : g.verdict.to_string();
      c.detail = {{"file", c.file}, {"description", f.description}, {"gradcheck", g.verdict.to_json()}};
    } catch (const std::exception& e) {
      c.status = "fail";
      c.message = std::string("could not generate: ") + e.what();
    }
    c.seconds = since(t0);
    print_line(c, o.json);
    report.cases.push_back(std::move(c));
  };
  for (const registry::OpSpec* s : specs)
    emit([&] { return properties::op_fixture(*s, g, ops); }, s->name);
  for (int i = 0; i < programs; ++i) {
    properties::GenerateOptions gi = g;
    gi.seed = seed + static_cast<uint64_t>(i);
    emit([&] { return properties::random_program(gi, ops); }, "program/" + std::to_string(gi.seed));
  }
  if (references) {
    for (const registry::OpSpec& s : ops.ops()) {
      for (const registry::ReferenceInput& r : s.references) {
        emit([&] { return properties::reference_fixture_recorded(s, r, g.dtype, ops); }, s.name + ": " + r.label);
      }
    }
  }
  return finish(report, o);
}

// ---------------------------------------------------------------- ops

namespace {

const char* attr_type_name(registry::AttrType t) {
  using T = registry::AttrType;
  switch (t) {
    case T::Int: return "int";
    case T::IntOrList: return "int|list";
    case T::IntList: return "list";
    case T::Ints: return "list";
    case T::Bool: return "bool";
    case T::Number: return "number";
    case T::Choice: return "choice";
  }
  return "?";
}

json kinks_json(const registry::OpSpec& s) {
  json out = json::array();
  for (const registry::Kink& k : s.kinks) out.push_back({{"arg", k.arg}, {"at", k.at}, {"gradient", k.gradient}});
  return out;
}

}  // namespace

int cmd_ops(const Output& o, const registry::OpTable& table) {
  Report report{"ops", {}};
  json ops = json::array();
  for (const registry::OpSpec& s : table.ops()) {
    const size_t nd = std::max<size_t>(1, s.domain.size());
    json domains = json::array();
    for (size_t i = 0; i < nd; ++i) domains.push_back(registry::domain_info(s.domain_of(i)).name);
    json attrs = json::array();
    std::string attr_text;
    for (const registry::AttrSpec& a : s.attrs) {
      json aj = {{"name", a.name}, {"type", attr_type_name(a.type)}, {"required", a.required}};
      if (!a.choices.empty()) aj["choices"] = a.choices;
      attrs.push_back(aj);
      attr_text += (attr_text.empty() ? "" : ", ") + a.name + ":" + attr_type_name(a.type) + (a.required ? "" : "?");
    }
    const std::string arity = s.min_args == s.max_args ? std::to_string(s.min_args)
                              : s.max_args < 0         ? std::to_string(s.min_args) + "+"
                                                       : std::to_string(s.min_args) + "-" + std::to_string(s.max_args);
    json j = {{"name", s.name},          {"summary", s.summary},        {"grad_fn", s.grad_fn},
              {"min_args", s.min_args},  {"max_args", s.max_args},      {"accepts_numbers", s.accepts_numbers},
              {"domains", domains},      {"shape", registry::rule_info(s.shape).name}, {"attrs", attrs},
              {"differentiable", s.differentiable}, {"binds_result", s.binds_result},
              {"kinks", kinks_json(s)}, {"reference_inputs", s.references.size()}};
    ops.push_back(j);
    if (!o.json) {
      std::string dom;
      for (const auto& d : domains) dom += (dom.empty() ? "" : ",") + d.get<std::string>();
      std::printf("%-16s args %-4s shape %-12s domain %-24s %s%s\n    %s\n", s.name.c_str(), arity.c_str(),
                  std::string(registry::rule_info(s.shape).name).c_str(), dom.c_str(), attr_text.empty() ? "" : "attrs ", attr_text.c_str(), s.summary.c_str());
    }
    report.cases.push_back({s.name, "", "pass", s.summary, 0, j, ""});
  }
  if (o.json) {
    std::cout << json{{"command", "ops"}, {"exit_code", 0}, {"ops", ops}}.dump(2) << "\n";
    Output no_json = o;
    no_json.json = false;
    return finish(report, no_json);
  }
  return finish(report, o);
}

}  // namespace gradoracle::cli
