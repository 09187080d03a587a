// The gradient-check properties: every fuzzable op, and random programs, against finite
// differences. A case is a fixture program; a failing case is written as a fixture.
#include <cmath>
#include <cstdlib>
#include <map>
#include <sstream>

#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

namespace fs = std::filesystem;
using registry::OpSpec;

fixtures::Fixture to_fixture(const ProgramCase& p, const std::string& description) {
  fixtures::Fixture f;
  f.name = "counterexample/" + p.name;
  f.description = description;
  f.dtype = p.dtype;
  f.source = {{"engine", "gradoracle"}, {"generator", "properties"}};
  for (const auto& [name, t] : p.leaves) {
    f.tensors.push_back(fixtures::TensorDecl{name, fixtures::Literal{t.shape, t.data, std::nullopt}, t.requires_grad});
  }
  for (const ProgramCase::Step& s : p.steps) {
    fixtures::OpStatement op;
    op.let = s.let;
    op.op = s.op;
    for (const auto& a : s.args) op.args.push_back(a);
    op.attrs = s.attrs;
    f.program.push_back(fixtures::Statement{op, std::nullopt});
  }
  for (size_t i = 0; i < p.roots.size(); ++i) {
    fixtures::BackwardStatement b;
    b.of = p.roots[i];
    b.grad = fixtures::Literal{i < p.root_shapes.size() ? p.root_shapes[i] : Shape{}, {}, 1.0};
    b.retain_graph = true;
    f.program.push_back(fixtures::Statement{b, std::nullopt});
  }
  return f;
}

fs::path counterexample_dir() {
  if (const char* dir = std::getenv("GRADORACLE_COUNTEREXAMPLE_DIR"); dir && *dir) return dir;
  return fs::path("build") / "counterexamples";
}

namespace {

std::string file_stem(const std::string& property) {
  std::string s;
  for (char c : property) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
  return s;
}

// Writes the case; returns the path, or empty if it could not be written (reported, not fatal).
fs::path write_counterexample(const ProgramCase& p, const std::string& property, const std::string& diagnosis,
                              const fs::path& dir) {
  const fs::path path = dir / (file_stem(property) + ".json");
  try {
    fs::create_directories(dir);
    fixtures::write_fixture(to_fixture(p, property + ": " + diagnosis), path);
    return fs::absolute(path);
  } catch (const std::exception&) {
    return {};
  }
}

// Whether the drawn point is one to judge at: the roots' values are finite (not a domain
// edge such as a mean over no elements) and, for float32 programs, every value the program
// computes stays within ±kFloat32Range (beyond it float32 rounding of an intermediate, fed to
// sin or a square, swamps the gradient: ill-conditioning, not a wrong backward). Replays the
// fixture; a replay failure is reported in *error.
constexpr double kFloat32Range = 10.0;

bool point_ok(const fixtures::Fixture& f, bool program, std::string* error) {
  fixtures::ReplayOptions options;
  options.check_expects = false;
  const fixtures::ReplayResult ref = fixtures::replay(f, options);
  if (!ref.passed()) {
    *error = "the program failed: " + ref.failures.front().to_string();
    return true;
  }
  for (const fixtures::Statement& s : f.program) {
    if (const auto* b = s.as<fixtures::BackwardStatement>()) {
      for (double v : ref.env.at(b->of).to_vector()) {
        if (!std::isfinite(v)) return false;
      }
    }
  }
  if (program && f.dtype == DType::Float32) {
    for (const auto& [name, t] : ref.env) {
      for (double v : t.to_vector()) {
        if (std::abs(v) > kFloat32Range) return false;
      }
    }
  }
  return true;
}

// Programs only: a float32 failure below this relative error that float64 passes is rounding.
constexpr double kFloat32Conditioning = 0.05;

// FNV-1a over the bytes of `data`, continuing from `h`.
uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

// The case's fingerprint, chained onto `h`: leaf names, shapes and values, then the ops.
uint64_t fingerprint(uint64_t h, const ProgramCase& p) {
  if (h == 0) h = 14695981039346656037ull;
  for (const auto& [name, t] : p.leaves) {
    h = fnv1a(h, name.data(), name.size());
    h = fnv1a(h, t.shape.data(), t.shape.size() * sizeof(t.shape[0]));
    h = fnv1a(h, t.data.data(), t.data.size() * sizeof(double));
  }
  for (const ProgramCase::Step& s : p.steps) h = fnv1a(h, s.op.data(), s.op.size());
  return h;
}

void check_case(const ProgramCase& p, const std::string& property, CaseStats* stats, const fs::path& dir,
                bool programs) {
  oracle::GradCheckResult r;
  std::string error;
  bool finite = true;
  try {
    const fixtures::Fixture f = to_fixture(p);
    finite = point_ok(f, programs, &error);
    if (finite && error.empty()) {
      const fixtures::FixtureCheck check = fixtures::gradcheck_fixture(f);
      if (check.result) {
        r = *check.result;
      } else if (check.status == fixtures::CheckStatus::Fail) {
        error = check.reason;
      }  // skipped (no leaf requires grad): nothing to check, a pass
    }
  } catch (const std::exception& e) {
    error = std::string("the program threw: ") + e.what();
  }
  if (error.empty() && !finite) {
    // A domain edge (a mean over no elements, an overflow) or float32 ill-conditioning.
    if (stats) ++stats->discarded;
    RC_DISCARD("not a point to judge at: a value is not finite, or too large for float32");
  }
  if (error.empty() && r.has_kinks()) {
    // A kink or a domain edge inside the finite-difference step: not a point to judge at.
    if (stats) ++stats->discarded;
    RC_DISCARD("the checker reports a non-differentiable point");
  }
  if (stats) {
    ++stats->cases;
    stats->digest = fingerprint(stats->digest, p);
    for (const oracle::EntryReport& e : r.worst) {
      stats->worst_abs = std::max(stats->worst_abs, e.abs_error);
      stats->worst_rel = std::max(stats->worst_rel, e.rel_error);
      if (e.allowed > 0) stats->worst_ratio = std::max(stats->worst_ratio, e.abs_error / e.allowed);
    }
  }
  if (error.empty() && r.passed) return;
  if (programs && error.empty() && p.dtype == DType::Float32 && !r.worst.empty() && r.worst.front().rel_error < kFloat32Conditioning) {
    // A small relative error in float32 that float64 does not show: rounding amplified by
    // an ill-conditioned composition (1 - tanh² near saturation), not a wrong gradient.
    ProgramCase wide = p;
    wide.dtype = DType::Float64;
    const fixtures::FixtureCheck again = gradcheck_case(wide);
    if (again.passed()) {
      if (stats) ++stats->discarded;
      RC_DISCARD("float32 rounding under ill-conditioning (float64 passes)");
    }
  }
  const std::string diagnosis = error.empty() ? r.to_string() : error;
  const fs::path fixture = write_counterexample(p, property, diagnosis, dir);
  if (stats) {
    stats->last_failure = p;
    stats->last_diagnosis = diagnosis;
    stats->last_fixture = fixture;
  }
  std::ostringstream msg;
  msg << property << ": " << diagnosis;
  if (!fixture.empty()) msg << "\n  counterexample fixture: " << fixture.string() << "\n  replay: gradoracle gradcheck " << fixture.string();
  RC_FAIL(msg.str());
}

}  // namespace

fixtures::FixtureCheck gradcheck_case(const ProgramCase& p) { return fixtures::gradcheck_fixture(to_fixture(p)); }

void prop_op_gradcheck(const OpSpec& op, DType dtype, CaseStats* stats, const fs::path& dir) {
  const OpCase c = *gen_op_case(op, dtype);
  check_case(to_program(c), "op-" + op.name + "-" + name(dtype), stats, dir, false);
}

void prop_program_gradcheck(DType dtype, CaseStats* stats, const ProgramOptions& options, const fs::path& dir) {
  ProgramCase p = *gen_program(dtype, options);
  check_case(p, std::string("program-") + name(dtype), stats, dir, true);
}

}  // namespace gradoracle::properties
