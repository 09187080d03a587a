// Shrunk counterexamples as fixtures: the case's program, its backward (or second order's
// grad_of and backward), and the expects a replay judges it by.
#include "counterexample.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "case_runs.hpp"
#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

namespace fs = std::filesystem;
using registry::OpSpec;
using detail::run_case;

namespace {
fixtures::Statement backward_of(const std::string& name, const Shape& shape, const std::vector<double>* upstream) {
  fixtures::BackwardStatement b;
  b.of = name;
  b.grad = upstream ? fixtures::Literal{shape, *upstream, std::nullopt} : fixtures::Literal{shape, {}, 1.0};
  b.retain_graph = true;
  return fixtures::Statement{b, std::nullopt};
}

// Second order: per root i, an upstream leaf up<i> and `grad_of` (create_graph, allow_unused)
// of the root with respect to every leaf that requires grad; then a backward of each gradient
// the root reaches (the program is run in `ops` to find them).
void append_second_order(const ProgramCase& p, fixtures::Fixture& f, const registry::OpTable& ops,
                         fixtures::EngineProcess* engine) {
  std::vector<std::pair<std::string, Shape>> wrt;
  for (const auto& [name, t] : p.leaves) {
    if (t.requires_grad) wrt.emplace_back(name, t.shape);
  }
  if (wrt.empty()) return;  // nothing to differentiate: the check is skipped, as in first order
  std::vector<std::pair<std::string, Shape>> grads;
  for (size_t i = 0; i < p.roots.size(); ++i) {
    const Shape shape = i < p.root_shapes.size() ? p.root_shapes[i] : Shape{};
    const std::string up = "up" + std::to_string(i);
    f.tensors.push_back(fixtures::TensorDecl{
        up, i < p.upstreams.size() ? fixtures::Literal{shape, p.upstreams[i], std::nullopt} : fixtures::Literal{shape, {}, 1.0},
        true});
    fixtures::GradOfStatement g;
    g.of = p.roots[i];
    for (const auto& [leaf, leaf_shape] : wrt) {
      g.let.push_back("d" + p.roots[i] + "_d" + leaf);
      g.wrt.push_back(leaf);
      grads.emplace_back(g.let.back(), leaf_shape);
    }
    g.grad_outputs_name = up;
    g.create_graph = true;
    g.allow_unused = true;
    f.program.push_back(fixtures::Statement{g, std::nullopt});
  }
  std::map<std::string, Tensor> env;
  try {
    env = run_case(f, false, ops, engine).env;
  } catch (const fixtures::EngineFault&) {
    throw;
  } catch (const std::exception&) {
    // the program fails: every gradient gets its backward, and the check reports the failure
  }
  // A gradient that is None, or a constant zero with no graph (of an empty input, or one the
  // root does not depend on) has no second derivative to check; any other gradient is
  // backward-ed, so one without a graph (a formula that records nothing) fails as PyTorch would.
  const auto checkable = [](const Tensor& g) {
    if (!g.defined()) return false;
    if (g.requires_grad()) return true;
    for (double v : g.to_vector()) {
      if (v != 0.0) return true;
    }
    return false;
  };
  for (const auto& [name, shape] : grads) {
    const auto it = env.find(name);
    if (it == env.end() || checkable(it->second)) f.program.push_back(backward_of(name, shape, nullptr));
  }
}
}  // namespace

fixtures::Fixture to_fixture(const ProgramCase& p, const std::string& description, const registry::OpTable& ops,
                             fixtures::EngineProcess* engine) {
  fixtures::Fixture f;
  f.name = "counterexample/" + p.name;
  f.description = description;
  f.dtype = p.dtype;
  f.source = {{"engine", "gradoracle"}, {"generator", "properties"}};
  for (const auto& [name, t] : p.leaves) {
    f.tensors.push_back(
        fixtures::TensorDecl{name, fixtures::Literal{t.shape, t.data, std::nullopt, t.dtype}, t.requires_grad});
  }
  for (const ProgramCase::Step& s : p.steps) {
    fixtures::OpStatement op;
    op.let = s.let;
    op.op = s.op->name;
    for (const auto& a : s.args) op.args.push_back(a);
    op.attrs = s.attrs;
    f.program.push_back(fixtures::Statement{op, std::nullopt});
  }
  if (p.second_order) {
    append_second_order(p, f, ops, engine);
  } else {
    for (size_t i = 0; i < p.roots.size(); ++i) {
      const Shape shape = i < p.root_shapes.size() ? p.root_shapes[i] : Shape{};
      f.program.push_back(backward_of(p.roots[i], shape, i < p.upstreams.size() ? &p.upstreams[i] : nullptr));
    }
  }
  for (const ProgramCase::Step& s : p.after_backward) {
    fixtures::OpStatement op;
    if (!s.let.empty()) op.let = s.let;
    op.op = s.op->name;
    for (const auto& a : s.args) op.args.push_back(a);
    op.attrs = s.attrs;
    f.program.push_back(fixtures::Statement{op, std::nullopt});
  }
  return f;
}

fs::path counterexample_dir() {
  if (const char* dir = std::getenv("GRADORACLE_COUNTEREXAMPLE_DIR"); dir && *dir) return dir;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path d = exe.parent_path(); !d.empty(); d = d.parent_path()) {
      if (fs::exists(d / "CMakeCache.txt", ec)) return d / "counterexamples";
      if (d == d.parent_path()) break;
    }
  }
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache && *cache == '/')
    return fs::path(cache) / "gradoracle" / "counterexamples";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "gradoracle" / "counterexamples";
  return fs::temp_directory_path(ec) / "gradoracle-counterexamples";
}

namespace detail {
namespace {
std::string file_stem(const std::string& property) {
  std::string s;
  for (char c : property) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return s;
}

// Appends the expects (see write_counterexample) after the last backward statement.
void append_expects(fixtures::Fixture& f, bool second_order, const registry::OpTable& ops) {
  const fixtures::ReplayResult own = run_case(f, false, ops, nullptr);
  if (!own.passed()) return;  // gradoracle cannot run it: no facts to give
  const fixtures::NumericGrads numeric = fixtures::numeric_grads(f, ops);
  size_t at = 0;  // after the last backward
  for (size_t i = 0; i < f.program.size(); ++i)
    if (f.program[i].as<fixtures::BackwardStatement>()) at = i + 1;
  std::vector<fixtures::Statement> expects;
  for (size_t i = 0; i < at; ++i) {
    const auto* op = f.program[i].as<fixtures::OpStatement>();
    if (!op || !op->let) continue;
    const auto it = own.env.find(*op->let);
    if (it == own.env.end() || !it->second.defined()) continue;
    fixtures::ExpectStatement e;
    e.kind = fixtures::ExpectKind::Value;
    e.of = *op->let;
    e.literal = fixtures::Literal::from_tensor(it->second);
    expects.push_back(fixtures::Statement{e, std::nullopt});
  }
  for (size_t i = 0; i < numeric.leaves.size(); ++i) {
    const Tensor& g = numeric.grads[i];
    const std::vector<double> values = g.defined() ? g.to_vector() : std::vector<double>{};
    if (!g.defined() || std::any_of(values.begin(), values.end(), [](double v) { return !std::isfinite(v); }))
      continue;  // f raised at a perturbed point: no fact here
    fixtures::ExpectStatement e;
    e.kind = fixtures::ExpectKind::Grad;
    e.of = numeric.leaves[i];
    const auto leaf = own.env.find(e.of);
    const bool none = leaf != own.env.end() && !leaf->second.grad().defined();
    if (!(none && std::all_of(values.begin(), values.end(), [](double v) { return v == 0.0; })))
      e.literal = fixtures::Literal{g.shape(), values, std::nullopt};
    expects.push_back(fixtures::Statement{e, std::nullopt});
  }
  if (expects.empty()) return;
  oracle::Tolerance tol = oracle::gradcheck_tolerance(f.dtype);
  if (second_order && f.dtype == DType::Float32) tol.atol = std::max(tol.atol, kSecondOrderFloat32Slack);
  f.tolerance = tol;
  f.program.insert(f.program.begin() + static_cast<std::ptrdiff_t>(at), expects.begin(), expects.end());
  f.description += "\nExpects: values as gradoracle's engine computes them, grads as finite differences give them "
                   "(central, float64), at the checker's tolerance.";
}

// The backward of the failing entry's root takes a one-hot upstream at the failing element.
void expose_failing_row(fixtures::Fixture& f, const oracle::GradCheckResult& failed) {
  if (failed.worst.empty() || failed.worst.front().passed()) return;
  const oracle::EntryReport& e = failed.worst.front();
  std::vector<std::string> roots;  // the checked function's outputs: backward roots, each once
  for (fixtures::Statement& st : f.program) {
    auto* b = std::get_if<fixtures::BackwardStatement>(&st.body);
    if (!b || st.raises) continue;
    if (std::find(roots.begin(), roots.end(), b->of) == roots.end()) roots.push_back(b->of);
    if (roots.size() != static_cast<size_t>(e.output) + 1 || roots.back() != b->of || !b->grad) continue;
    const int64_t n = b->grad->numel();
    if (e.output_flat < 0 || e.output_flat >= n) return;
    std::vector<double> one_hot(static_cast<size_t>(n), 0.0);
    one_hot[static_cast<size_t>(e.output_flat)] = 1.0;
    b->grad = fixtures::Literal{b->grad->shape, one_hot, std::nullopt};
    return;
  }
}

}  // namespace

std::string op_property(const OpSpec& op, DType dtype) { return "op-" + op.name + "-" + name(dtype); }
std::string reference_property(const OpSpec& op, DType dtype) { return "ref-" + op.name + "-" + name(dtype); }
std::string program_property(DType dtype) { return std::string("program-") + name(dtype); }
std::string op2_property(const OpSpec& op, DType dtype) { return "op2-" + op.name + "-" + name(dtype); }
std::string program2_property(DType dtype) { return std::string("program2-") + name(dtype); }

fs::path counterexample_file(const std::string& property, const fs::path& dir) {
  return dir / (file_stem(property) + ".json");
}

WrittenCase write_counterexample(const ProgramCase& p, const std::string& property, const std::string& diagnosis,
                                 const fs::path& dir, const registry::OpTable& ops, fixtures::EngineProcess* engine,
                                 const oracle::GradCheckResult* failed) {
  WrittenCase out;
  const fs::path path = counterexample_file(property, dir);
  fixtures::Fixture f;
  try {
    f = to_fixture(p, property + ": " + diagnosis, ops, engine);
    if (failed) expose_failing_row(f, *failed);
    append_expects(f, p.second_order, ops);
    fs::create_directories(dir);
    fixtures::write_fixture(f, path);
    out.path = fs::absolute(path);
  } catch (const fixtures::EngineFault&) {
    throw;
  } catch (const std::exception&) {
    return {};
  }
  try {
    out.replay_fails = !run_case(f, true, ops, engine).passed();
  } catch (const fixtures::EngineFault&) {
    throw;
  } catch (const std::exception&) {
    out.replay_fails = true;  // the replay stops with an error: it fails again
  }
  return out;
}

}  // namespace detail
}  // namespace gradoracle::properties
