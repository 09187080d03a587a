// Second order against first order on the same programs (issue 18, goal 5), side by side in one
// run (tools/second_order_cost.sh). For each fixture of DIR (first-order random programs:
// leaves that require grad, ops, a backward of each root), three checks of the same program:
//
//   first    fixtures::gradcheck_fixture: f's Jacobian, as `gradoracle gradcheck FILE` checks it
//   second   oracle::gradgradcheck of the same program function f, at upstreams v
//   fixture2 fixtures::gradcheck_fixture of the program's second-order form, as the gate's
//            program2/op2 tasks build it (properties' append_second_order): an upstream leaf up<i>
//            (= v) per root, a grad_of (create_graph, allow_unused) of each root with respect to
//            every leaf that requires grad, and a backward of each gradient that can carry a graph
//
// v: one upstream per root, uniform in [-1, 1] from a fixed seed, the same for `second` and
// `fixture2`, so both check F(x, v) = Jᵀv at the same point. Each check includes the program's
// reference replay and compilation, as the CLI's gradcheck does.
//
// Times: CPU time of this process (one thread), each (program, kind) the best of --repeat runs;
// the runs are interleaved (repetition r runs every program's kinds, their order rotated by r).
// Prints the sums per kind, their ratios to `first`, the median and 90th percentile of the
// per-program ratios, and how many checks passed (the verdicts: the ratios compare equal work
// only when they match the kinds' usual verdicts).
//
// --only KIND runs that kind once over every program inside measured_kind(), for instruction
// counts under callgrind (--toggle-collect=*measured_kind*: reading and setup are not counted).
// --write-second-order OUT writes each program's second-order fixture there (the CLI's input).
//
// Usage: second_order_cost DIR [--repeat R] [--only first|second|fixture2] [--write-second-order OUT]
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/fixture.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace fs = std::filesystem;
using namespace gradoracle;

namespace {

struct Program {
  std::string name;
  fixtures::Fixture first, second;  // the fixture as read, its second-order form
  std::vector<Tensor> upstreams;    // v, one per root
};

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// The roots of the backward statements, each once, in program order, and their shapes.
std::vector<std::pair<std::string, Shape>> roots(const fixtures::Fixture& f, const fixtures::ReplayResult& run) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const fixtures::Statement& st : f.program) {
    const auto* b = st.as<fixtures::BackwardStatement>();
    if (!b || st.raises) continue;
    if (std::none_of(out.begin(), out.end(), [&](const auto& r) { return r.first == b->of; }))
      out.emplace_back(b->of, run.env.at(b->of).shape());
  }
  return out;
}

// The second-order form of `f` at upstreams `v` (see the file comment); as properties'
// append_second_order: a gradient that is None, or a constant zero without a graph, gets no backward.
fixtures::Fixture second_order_form(const fixtures::Fixture& f, const std::vector<std::pair<std::string, Shape>>& rs,
                                    const std::vector<Tensor>& v) {
  fixtures::Fixture s;
  s.name = f.name + "/second-order";
  s.description = "the second-order form of " + f.name + " (bench/second_order_cost.cpp)";
  s.dtype = f.dtype;
  s.tensors = f.tensors;
  for (const fixtures::Statement& st : f.program)
    if (st.as<fixtures::OpStatement>() || st.as<fixtures::DetachStatement>()) s.program.push_back(st);
  std::vector<std::string> wrt;
  for (const fixtures::TensorDecl& d : f.tensors)
    if (d.requires_grad) wrt.push_back(d.name);
  std::vector<std::pair<std::string, Shape>> grads;
  for (size_t i = 0; i < rs.size(); ++i) {
    const std::string up = "up" + std::to_string(i);
    s.tensors.push_back(fixtures::TensorDecl{up, fixtures::Literal{rs[i].second, v[i].to_vector(), std::nullopt}, true});
    fixtures::GradOfStatement g;
    g.of = rs[i].first;
    for (const std::string& w : wrt) {
      g.let.push_back("d" + rs[i].first + "_d" + w);
      g.wrt.push_back(w);
      grads.emplace_back(g.let.back(), f.tensor(w)->literal.shape);
    }
    g.grad_outputs_name = up;
    g.create_graph = true;
    g.allow_unused = true;
    s.program.push_back(fixtures::Statement{g, std::nullopt});
  }
  fixtures::ReplayOptions o;
  o.check_expects = false;
  const fixtures::ReplayResult run = fixtures::replay(s, o);
  for (const auto& [name, shape] : grads) {
    const auto it = run.env.find(name);
    bool checkable = it == run.env.end();
    if (!checkable && it->second.defined()) {
      checkable = it->second.requires_grad();
      for (double x : it->second.to_vector()) checkable = checkable || x != 0.0;
    }
    if (!checkable) continue;
    fixtures::BackwardStatement b;
    b.of = name;
    b.grad = fixtures::Literal{shape, {}, 1.0};
    b.retain_graph = true;
    s.program.push_back(fixtures::Statement{b, std::nullopt});
  }
  return s;
}

Program load(const fs::path& file, Generator& gen) {
  Program p;
  p.name = file.filename().string();
  p.first = fixtures::read_fixture(file);
  fixtures::ReplayOptions o;
  o.check_expects = false;
  const fixtures::ReplayResult run = fixtures::replay(p.first, o);
  const auto rs = roots(p.first, run);
  for (const auto& r : rs) p.upstreams.push_back(Tensor::uniform(r.second, -1.0, 1.0, gen, p.first.dtype));
  p.second = second_order_form(p.first, rs, p.upstreams);
  return p;
}

// One check of `kind` on program p; returns whether it passed.
bool check(const Program& p, const std::string& kind) {
  if (kind == "first") return fixtures::gradcheck_fixture(p.first).passed();
  if (kind == "fixture2") return fixtures::gradcheck_fixture(p.second).passed();
  fixtures::ReplayOptions o;
  o.check_expects = false;
  const fixtures::ReplayResult run = fixtures::replay(p.first, o);
  const fixtures::ProgramFunction pf = fixtures::program_function(p.first, run);
  return oracle::gradgradcheck(pf.function, pf.input_values, {}, p.upstreams).passed;
}

// Every program's check of `kind`, once: what callgrind counts under --only.
__attribute__((noinline)) int measured_kind(const std::vector<Program>& programs, const std::string& kind) {
  int passed = 0;
  for (const Program& p : programs) passed += check(p, kind) ? 1 : 0;
  return passed;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  fs::path dir, write_dir;
  int repeat = 5;
  std::string only;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--repeat" && i + 1 < args.size()) repeat = std::max(1, std::stoi(args[++i]));
    else if (args[i] == "--only" && i + 1 < args.size()) only = args[++i];
    else if (args[i] == "--write-second-order" && i + 1 < args.size()) write_dir = args[++i];
    else if (dir.empty() && args[i].rfind("--", 0) != 0) dir = args[i];
    else dir.clear(), i = args.size();
  }
  const std::vector<std::string> kinds = {"first", "second", "fixture2"};
  if (dir.empty() || (!only.empty() && std::find(kinds.begin(), kinds.end(), only) == kinds.end())) {
    std::cerr << "usage: second_order_cost DIR [--repeat R] [--only first|second|fixture2] [--write-second-order OUT]\n";
    return 2;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  Generator gen(18005);
  std::vector<Program> programs;
  for (const fs::path& f : files) programs.push_back(load(f, gen));
  if (!write_dir.empty()) {
    fs::create_directories(write_dir);
    for (const Program& p : programs) fixtures::write_text_atomically(write_dir / p.name, fixtures::to_text(p.second));
  }
  if (!only.empty()) {
    std::cout << only << ": " << measured_kind(programs, only) << " of " << programs.size() << " passed\n";
    return 0;
  }
  // best[kind][program]
  std::map<std::string, std::vector<double>> best;
  std::map<std::string, int> passed;
  for (const std::string& k : kinds) best[k].assign(programs.size(), 1e300);
  for (int r = 0; r < repeat; ++r) {
    for (size_t p = 0; p < programs.size(); ++p) {
      for (size_t j = 0; j < kinds.size(); ++j) {
        const std::string& k = kinds[(j + static_cast<size_t>(r) + p) % kinds.size()];
        const double t0 = cpu_seconds();
        const bool ok = check(programs[p], k);
        best[k][p] = std::min(best[k][p], cpu_seconds() - t0);
        if (r == 0) passed[k] += ok ? 1 : 0;
      }
    }
  }
  double total_first = 0;
  for (double t : best["first"]) total_first += t;
  std::printf("%zu programs of %s, CPU time, best of %d interleaved runs per program and kind\n", programs.size(),
              dir.string().c_str(), repeat);
  std::printf("%-9s %10s %8s %14s %14s %8s\n", "kind", "total ms", "ratio", "median ratio", "90th pct ratio", "passed");
  for (const std::string& k : kinds) {
    double total = 0;
    std::vector<double> ratios;
    for (size_t p = 0; p < programs.size(); ++p) {
      total += best[k][p];
      ratios.push_back(best[k][p] / best["first"][p]);
    }
    std::printf("%-9s %10.2f %7.2fx %13.2fx %13.2fx %5d/%zu\n", k.c_str(), 1e3 * total, total / total_first,
                quantile(ratios, 0.5), quantile(ratios, 0.9), passed[k], programs.size());
  }
  return 0;
}
