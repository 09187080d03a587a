// gradoracle: replay, gradcheck and generate fixtures (format v1); list the registered ops.
// Exit codes: 0 all pass, 1 a fixture fails, 2 bad input or usage.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "gradoracle/engine/registry.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/fixtures/generate.hpp"
#include "gradoracle/fixtures/interpreter.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace gradoracle;
using namespace gradoracle::fixtures;

namespace {

constexpr int kPass = 0, kFail = 1, kBad = 2;

// One line of a report: a fixture (or op) and what became of it.
struct Case {
  std::string name;    // the fixture's name, or the file when it could not be read
  std::string file;    // "" for ops
  std::string status;  // "pass", "fail", "error" (bad input), "skip"
  std::string message;  // one line
  double seconds = 0;
  json detail;  // the subcommand's own report of this case
};

struct Report {
  std::string command;
  std::vector<Case> cases;
  int exit_code() const {
    int code = kPass;
    for (const Case& c : cases) {
      if (c.status == "error") return kBad;
      if (c.status == "fail") code = kFail;
    }
    return code;
  }
};

// Writes `text` to `path` atomically: a temporary file beside it, then rename.
void write_atomically(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw std::runtime_error("cannot write " + path.string() + ": " + ec.message());
  }
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 forbids most control characters, even escaped.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') out += '?';
        else out += c;
    }
  }
  return out;
}

std::string junit(const Report& r) {
  int failures = 0, errors = 0, skipped = 0;
  double total = 0;
  for (const Case& c : r.cases) {
    failures += c.status == "fail";
    errors += c.status == "error";
    skipped += c.status == "skip";
    total += c.seconds;
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out << "<testsuites name=\"gradoracle\" tests=\"" << r.cases.size() << "\" failures=\"" << failures << "\" errors=\""
      << errors << "\" time=\"" << total << "\">\n";
  out << "  <testsuite name=\"gradoracle." << r.command << "\" tests=\"" << r.cases.size() << "\" failures=\""
      << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << total << "\">\n";
  for (const Case& c : r.cases) {
    out << "    <testcase classname=\"gradoracle." << r.command << "\" name=\"" << xml_escape(c.name) << "\"";
    if (!c.file.empty()) out << " file=\"" << xml_escape(c.file) << "\"";
    out << " time=\"" << c.seconds << "\"";
    if (c.status == "pass") {
      out << "/>\n";
      continue;
    }
    out << ">\n";
    if (c.status == "fail")
      out << "      <failure message=\"" << xml_escape(c.message) << "\">" << xml_escape(c.detail.dump(2)) << "</failure>\n";
    else if (c.status == "error")
      out << "      <error message=\"" << xml_escape(c.message) << "\"/>\n";
    else
      out << "      <skipped message=\"" << xml_escape(c.message) << "\"/>\n";
    out << "    </testcase>\n";
  }
  out << "  </testsuite>\n</testsuites>\n";
  return out.str();
}

json report_json(const Report& r) {
  json cases = json::array();
  int counts[4] = {0, 0, 0, 0};
  for (const Case& c : r.cases) {
    json j = {{"name", c.name}, {"status", c.status}, {"message", c.message}, {"seconds", c.seconds}};
    if (!c.file.empty()) j["file"] = c.file;
    if (!c.detail.is_null()) j["detail"] = c.detail;
    cases.push_back(std::move(j));
    counts[c.status == "pass" ? 0 : c.status == "fail" ? 1 : c.status == "error" ? 2 : 3]++;
  }
  return {{"command", r.command},
          {"exit_code", r.exit_code()},
          {"summary", {{"total", r.cases.size()}, {"passed", counts[0]}, {"failed", counts[1]}, {"errors", counts[2]}, {"skipped", counts[3]}}},
          {"cases", std::move(cases)}};
}

struct Output {
  bool json = false;
  std::string junit_file;
};

// Prints the report's end (or its JSON) and writes the JUnit file; returns the exit code.
int finish(const Report& r, const Output& o) {
  int code = r.exit_code();
  if (o.json) std::cout << report_json(r).dump(2) << "\n";
  if (!o.junit_file.empty()) {
    try {
      write_atomically(o.junit_file, junit(r));
    } catch (const std::exception& e) {
      std::cerr << "gradoracle: " << e.what() << "\n";
      code = kBad;
    }
  }
  return code;
}

// FILE|DIR... -> the .json files, sorted within each directory. A missing path is an error case.
std::vector<std::string> expand(const std::vector<std::string>& paths, Report& report) {
  std::vector<std::string> files;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".json") found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      if (found.empty()) report.cases.push_back({p, p, "error", "no .json fixtures in this directory", 0, nullptr});
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      files.push_back(p);
    } else {
      report.cases.push_back({p, p, "error", "no such file or directory", 0, nullptr});
    }
  }
  return files;
}

void print_line(const Case& c, bool json_mode) {
  std::ostream& os = json_mode ? std::cerr : std::cout;
  std::string tag = c.status == "pass" ? "PASS" : c.status == "fail" ? "FAIL" : c.status == "error" ? "ERROR" : "SKIP";
  os << tag << " " << c.name;
  if (!c.file.empty() && c.file != c.name) os << " (" << c.file << ")";
  if (!c.message.empty()) os << ": " << c.message;
  os << "\n";
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---------------------------------------------------------------- replay

int cmd_replay(const std::vector<std::string>& paths, const Output& o) {
  Report report{"replay", {}};
  const auto files = expand(paths, report);
  for (const Case& c : report.cases) print_line(c, o.json);
  for (const std::string& file : files) {
    const auto t0 = std::chrono::steady_clock::now();
    Case c{file, file, "", "", 0, nullptr};
    try {
      const Fixture f = read_fixture(file);
      c.name = f.name;
      const ReplayResult r = replay(f);
      c.status = r.passed() ? "pass" : "fail";
      c.detail = r.to_json();
      if (r.passed()) {
        c.message = std::to_string(r.expects) + " expects" + (r.raises ? ", " + std::to_string(r.raises) + " raises" : "");
      } else {
        c.message = r.failures.front().to_string();
        if (r.failures.size() > 1) c.message += " (and " + std::to_string(r.failures.size() - 1) + " more)";
      }
    } catch (const FixtureError& e) {
      c.status = "error";
      c.message = e.what();
    } catch (const std::exception& e) {
      c.status = "error";
      c.message = std::string("internal error: ") + e.what();
    }
    c.seconds = since(t0);
    print_line(c, o.json);
    report.cases.push_back(std::move(c));
  }
  return finish(report, o);
}

// ---------------------------------------------------------------- gradcheck

int cmd_gradcheck(const std::vector<std::string>& paths, const oracle::GradCheckOptions& options, const Output& o) {
  Report report{"gradcheck", {}};
  const auto files = expand(paths, report);
  for (const Case& c : report.cases) print_line(c, o.json);
  for (const std::string& file : files) {
    const auto t0 = std::chrono::steady_clock::now();
    Case c{file, file, "", "", 0, nullptr};
    try {
      const Fixture f = read_fixture(file);
      c.name = f.name;
      const FixtureCheck r = gradcheck_fixture(f, options);
      c.status = name(r.status);
      c.detail = r.to_json();
      if (r.status == CheckStatus::Pass) {
        c.message = std::to_string(r.inputs.size()) + " inputs, " + std::to_string(r.outputs.size()) + " outputs";
        if (r.result && r.result->has_kinks()) c.message += ", " + std::to_string(r.result->kink_count) + " kinks";
      } else if (r.status == CheckStatus::Skip) {
        c.message = r.reason;
      } else {
        std::string s = r.result ? r.result->to_string() : r.reason;
        std::replace(s.begin(), s.end(), '\n', ' ');
        c.message = s;
      }
    } catch (const FixtureError& e) {
      c.status = "error";
      c.message = e.what();
    } catch (const std::exception& e) {
      c.status = "error";
      c.message = std::string("internal error: ") + e.what();
    }
    c.seconds = since(t0);
    print_line(c, o.json);
    report.cases.push_back(std::move(c));
  }
  return finish(report, o);
}

// ---------------------------------------------------------------- generate

std::string file_name(const std::string& fixture_name) {
  std::string s = fixture_name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '-';
  return s + ".json";
}

int cmd_generate(const std::vector<std::string>& op_names, bool all, int programs, uint64_t seed,
                 const std::string& dtype, const std::string& out_dir, const Output& o) {
  Report report{"generate", {}};
  GenerateOptions g;
  g.seed = seed;
  g.dtype = dtype == "float32" ? DType::Float32 : DType::Float64;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) {
    std::cerr << "gradoracle generate: cannot create " << out_dir << "\n";
    return kBad;
  }
  std::vector<const registry::OpSpec*> specs;
  if (all)
    for (const registry::OpSpec& s : registry::all()) specs.push_back(&s);
  for (const std::string& n : op_names) {
    const registry::OpSpec* s = registry::find(n);
    if (!s) {
      std::cerr << "gradoracle generate: unknown op \"" << n << "\" (see `gradoracle ops`)\n";
      return kBad;
    }
    specs.push_back(s);
  }
  auto emit = [&](const std::function<Fixture()>& make, const std::string& label) {
    const auto t0 = std::chrono::steady_clock::now();
    Case c{label, "", "", "", 0, nullptr};
    try {
      const Fixture f = make();
      c.name = f.name;
      const fs::path path = fs::path(out_dir) / file_name(f.name);
      c.file = path.string();
      write_fixture(f, path);
      const bool fd_pass = f.description.find("FAIL") == std::string::npos;
      c.status = fd_pass ? "pass" : "fail";
      const auto at = f.description.find("Finite differences");
      c.message = at == std::string::npos ? "" : f.description.substr(at);
      c.detail = {{"file", c.file}, {"description", f.description}};
    } catch (const std::exception& e) {
      c.status = "fail";
      c.message = std::string("could not generate: ") + e.what();
    }
    c.seconds = since(t0);
    print_line(c, o.json);
    report.cases.push_back(std::move(c));
  };
  for (const registry::OpSpec* s : specs)
    emit([&] { return op_fixture(*s, g); }, s->name);
  for (int i = 0; i < programs; ++i) {
    GenerateOptions gi = g;
    gi.seed = seed + static_cast<uint64_t>(i);
    emit([&] { return random_program(gi); }, "program/" + std::to_string(gi.seed));
  }
  return finish(report, o);
}

// ---------------------------------------------------------------- ops

const char* domain_name(registry::Domain d) {
  switch (d) {
    case registry::Domain::Real: return "real";
    case registry::Domain::Positive: return "positive";
    case registry::Domain::NonZero: return "nonzero";
    case registry::Domain::AwayFromKink: return "away-from-kink";
    case registry::Domain::Bounded: return "bounded";
  }
  return "?";
}

const char* shape_name(registry::ShapeRule r) {
  using R = registry::ShapeRule;
  switch (r) {
    case R::Unary: return "unary";
    case R::Broadcast: return "broadcast";
    case R::Matmul: return "matmul";
    case R::Linear: return "linear";
    case R::Transpose2D: return "transpose2d";
    case R::Transpose: return "transpose";
    case R::Reshape: return "reshape";
    case R::Reduction: return "reduction";
    case R::Norm: return "norm";
    case R::SoftmaxDim: return "softmax-dim";
    case R::Cat: return "cat";
    case R::Loss: return "loss";
    case R::Identity: return "identity";
    case R::Parameters: return "parameters";
  }
  return "?";
}

const char* attr_type_name(registry::AttrType t) {
  using T = registry::AttrType;
  switch (t) {
    case T::Int: return "int";
    case T::IntOrList: return "int|list";
    case T::IntList: return "list";
    case T::Bool: return "bool";
    case T::Number: return "number";
    case T::Choice: return "choice";
  }
  return "?";
}

int cmd_ops(const Output& o) {
  Report report{"ops", {}};
  json ops = json::array();
  for (const registry::OpSpec& s : registry::all()) {
    const size_t nd = std::max<size_t>(1, s.domain.size());
    json domains = json::array();
    for (size_t i = 0; i < nd; ++i) domains.push_back(domain_name(s.domain_of(i)));
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
              {"domains", domains},      {"shape", shape_name(s.shape)}, {"attrs", attrs},
              {"differentiable", s.differentiable}, {"binds_result", s.binds_result}};
    ops.push_back(j);
    if (!o.json) {
      std::string dom;
      for (const auto& d : domains) dom += (dom.empty() ? "" : ",") + d.get<std::string>();
      std::printf("%-16s args %-4s shape %-12s domain %-24s %s%s\n    %s\n", s.name.c_str(), arity.c_str(),
                  shape_name(s.shape), dom.c_str(), attr_text.empty() ? "" : "attrs ", attr_text.c_str(), s.summary.c_str());
    }
    report.cases.push_back({s.name, "", "pass", s.summary, 0, j});
  }
  if (o.json) {
    std::cout << json{{"command", "ops"}, {"exit_code", 0}, {"ops", ops}}.dump(2) << "\n";
    Output no_json = o;
    no_json.json = false;
    return finish(report, no_json);
  }
  return finish(report, o);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gradoracle: replay, gradcheck and generate autodiff fixtures (format v1)\n"
               "exit codes: 0 all pass, 1 a fixture fails, 2 bad input or usage"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  Output out;
  auto add_output = [&](CLI::App* sub) {
    sub->add_flag("--json", out.json, "machine-readable report on stdout (the per-fixture lines go to stderr)");
    sub->add_option("--junit", out.junit_file, "write a JUnit XML report to FILE (atomically)");
  };

  std::vector<std::string> replay_paths;
  CLI::App* replay_cmd = app.add_subcommand("replay", "run fixtures in the engine and check every expect");
  replay_cmd->add_option("paths", replay_paths, "fixture files or directories (searched for *.json)")->required();
  add_output(replay_cmd);

  std::vector<std::string> check_paths;
  oracle::GradCheckOptions gopt;
  bool fast = false;
  std::optional<double> eps, atol, rtol;
  uint64_t check_seed = 0;
  CLI::App* check_cmd =
      app.add_subcommand("gradcheck", "finite-difference check of each fixture's program (leaves -> backward roots)");
  check_cmd->add_option("paths", check_paths, "fixture files or directories")->required();
  check_cmd->add_flag("--fast", fast, "vᵀJu probes instead of the full Jacobian (explained on failure)");
  check_cmd->add_option("--eps", eps, "finite-difference step (default 1e-6, relative)")->check(CLI::PositiveNumber);
  check_cmd->add_option("--atol", atol, "absolute tolerance (default by dtype)")->check(CLI::NonNegativeNumber);
  check_cmd->add_option("--rtol", rtol, "relative tolerance (default by dtype)")->check(CLI::NonNegativeNumber);
  check_cmd->add_option("--seed", check_seed, "seed of fast mode's probes (default 0)");
  add_output(check_cmd);

  std::vector<std::string> gen_ops;
  bool gen_all = false;
  int gen_programs = 0;
  uint64_t gen_seed = 0;
  std::string gen_out, gen_dtype = "float64";
  CLI::App* gen_cmd = app.add_subcommand("generate", "write reference fixtures computed by the engine");
  auto* op_opt = gen_cmd->add_option("--op", gen_ops, "an op to generate a fixture for (repeatable)");
  auto* all_opt = gen_cmd->add_flag("--all", gen_all, "one fixture per registered op");
  auto* prog_opt = gen_cmd->add_option("--programs", gen_programs, "N random programs")->check(CLI::Range(0, 1000000));
  (void)op_opt;
  (void)all_opt;
  (void)prog_opt;
  gen_cmd->add_option("--seed", gen_seed, "seed (program i uses seed + i)");
  gen_cmd->add_option("--dtype", gen_dtype, "float64 (default) or float32")->check(CLI::IsMember({"float32", "float64"}));
  gen_cmd->add_option("--out", gen_out, "output directory")->required();
  add_output(gen_cmd);

  CLI::App* ops_cmd = app.add_subcommand("ops", "list the registered ops: arity, shapes, domains, attrs");
  add_output(ops_cmd);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kBad;
  }

  try {
    if (*replay_cmd) return cmd_replay(replay_paths, out);
    if (*check_cmd) {
      gopt.fast_mode = fast;
      if (eps) gopt.eps = *eps;
      gopt.atol = atol;
      gopt.rtol = rtol;
      gopt.seed = check_seed;
      return cmd_gradcheck(check_paths, gopt, out);
    }
    if (*gen_cmd) {
      if (gen_ops.empty() && !gen_all && gen_programs == 0) {
        std::cerr << "gradoracle generate: give --op NAME, --all or --programs N\n" << gen_cmd->help();
        return kBad;
      }
      return cmd_generate(gen_ops, gen_all, gen_programs, gen_seed, gen_dtype, gen_out, out);
    }
    if (*ops_cmd) return cmd_ops(out);
  } catch (const std::exception& e) {
    std::cerr << "gradoracle: " << e.what() << "\n";
    return kBad;
  }
  return kBad;
}
