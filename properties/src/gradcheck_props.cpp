// The gradient-check properties: every fuzzable op, and random programs, against finite
// differences. A case is a fixture program; a failing case is written as a fixture.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "gradoracle/fixtures/check.hpp"
#include "gradoracle/fixtures/engine_check.hpp"
#include "gradoracle/fixtures/interpreter.hpp"
#include "gradoracle/fixtures/judge.hpp"
#include "case_runs.hpp"
#include "counterexample.hpp"
#include "gradoracle/properties/properties.hpp"

namespace gradoracle::properties {

namespace fs = std::filesystem;
using oracle::Tolerance;
using registry::OpSpec;
using detail::check_fixture;
using detail::differs;
using detail::run_case;
using detail::counterexample_file;
using detail::kSecondOrderFloat32Slack;
using detail::op2_property;
using detail::op_property;
using detail::program2_property;
using detail::program_property;
using detail::reference_property;
using detail::write_counterexample;

namespace {

// Whether the drawn point is one to judge at: the roots' values are finite (not a domain
// edge such as a mean over no elements) and, for float32 programs, every value the program
// computes stays within ±kFloat32Range (beyond it float32 rounding of an intermediate, fed to
// sin or a square, swamps the gradient: ill-conditioning, not a wrong backward). Replays the
// fixture; a replay failure is reported in *error.
constexpr double kFloat32Range = 10.0;

bool point_ok(const fixtures::Fixture& f, bool program, const registry::OpTable& ops, std::string* error,
              fixtures::EngineProcess* engine, fixtures::ReplayResult* run) {
  const fixtures::ReplayResult ref = run_case(f, false, ops, engine);
  if (run) *run = ref;
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
      if (!t.defined()) continue;  // a grad_of result bound to None
      for (double v : t.to_vector()) {
        if (std::abs(v) > kFloat32Range) return false;
      }
    }
  }
  return true;
}

// Programs only: a float32 failure below this relative error that float64 passes is rounding.
constexpr double kFloat32Conditioning = 0.05;
// Second order: a float32 failure below kSecondOrderFloat32Slack absolute error that float64
// passes is rounding.
// Programs: so is one below this absolute error (10× float32's atol): an exact 0 that float32
// computes as rounding noise, e.g. layer_norm of a one-element row, where 1/√eps ≈ 316 scales
// the rounding of x − μ (PyTorch's float32 gives the same noise).
constexpr double kProgramFloat32Slack = 1e-4;

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
  for (const ProgramCase::Step& s : p.steps) h = fnv1a(h, s.op->name.data(), s.op->name.size());
  return h;
}

// The checker's options for a case: the defaults, with the tolerance its op declares (a
// one-op case) where it declares one.
oracle::GradCheckOptions options_for(const OpSpec* op, DType dtype) {
  oracle::GradCheckOptions o;
  if (op) {
    if (const std::optional<Tolerance> t = op->tolerance(dtype)) {
      o.atol = t->atol;
      o.rtol = t->rtol;
    }
  }
  return o;
}

// Whether an op statement of the program takes, in an argument, its op's declared kink value
// (as at_declared_kink does for one op's case): PyTorch's second derivative there is its
// masked one (pow's in b at b = 0 is 0), not the finite differences'. `env` holds the run's
// values by name, leaves included.
bool fixture_at_declared_kink(const fixtures::Fixture& f, const std::map<std::string, Tensor>& env,
                              const registry::OpTable& ops) {
  auto holds = [&](const std::string& name, double at) {
    const auto it = env.find(name);
    if (it == env.end() || !it->second.defined()) return false;
    const std::vector<double> v = it->second.to_vector();
    return std::find(v.begin(), v.end(), at) != v.end();
  };
  for (const fixtures::Statement& s : f.program) {
    const auto* o = s.as<fixtures::OpStatement>();
    const OpSpec* op = o ? ops.find(o->op) : nullptr;
    if (!op) continue;
    for (const registry::Kink& k : op->kinks) {
      if (k.arg >= o->args.size()) continue;
      const auto* name = std::get_if<std::string>(&o->args[k.arg]);
      if (name ? holds(*name, k.at) : std::get<double>(o->args[k.arg]) == k.at) return true;
    }
  }
  return false;
}

// Whether a second-order check's only fault is non-finite analytic entries in the upstream
// leaves (the leaves that require grad and are some grad_of's grad_outputs), with finite
// numeric sides.
bool masked_upstream_nan(const oracle::GradCheckResult& r, const fixtures::Fixture& f) {
  if (r.failure_count > 0 || !r.problems.empty() || r.nonfinite_count == 0) return false;
  std::vector<std::string> upstreams;
  for (const fixtures::Statement& s : f.program)
    if (const auto* g = s.as<fixtures::GradOfStatement>(); g && g->grad_outputs_name)
      upstreams.push_back(*g->grad_outputs_name);
  std::vector<bool> own;  // by gradcheck input index: the leaves that require grad, in order
  for (const fixtures::TensorDecl& t : f.tensors)
    if (t.requires_grad) own.push_back(std::find(upstreams.begin(), upstreams.end(), t.name) == upstreams.end());
  for (const oracle::PairReport& pr : r.pairs)
    if (pr.nonfinite > 0 && (pr.input < 0 || static_cast<size_t>(pr.input) >= own.size() || own[pr.input])) return false;
  for (const oracle::EntryReport& e : r.nonfinite)
    if (std::isfinite(e.analytic) || !std::isfinite(e.numeric)) return false;
  return true;
}

// Why the case's point is not one to judge at, or "" if it is. The properties draw again at
// such a point; a saved case found at one (saved before its op declared the kink, say) is not
// judged. `finite`: point_ok's verdict; `r`: the check's result, if it ran.
std::string not_a_point(const fixtures::Fixture& f, const fixtures::ReplayResult& run, const oracle::GradCheckResult& r,
                        bool finite, bool second_order, const registry::OpTable& ops) {
  // A domain edge (a mean over no elements, an overflow) or float32 ill-conditioning.
  if (!finite) return "not a point to judge at: a value is not finite, or too large for float32";
  // A declared kink (OpSpec::kinks) in a second-order case: as prop_op_gradgradcheck discards it for one op.
  if (second_order && fixture_at_declared_kink(f, run.env, ops)) return "a step's argument sits at its op's declared kink";
  // PyTorch's create_graph gradient at a masked point (std of a one-element row): the
  // upstream's entries are NaN where finite differences give 0 (corpus/semantics/
  // std-second-order-zero-variance.json). They are the first-order Jacobian, which the op's
  // first-order task checks: not a point to judge second order at.
  if (second_order && masked_upstream_nan(r, f))
    return "a NaN derivative in the upstream at a masked point (PyTorch's create_graph semantics)";
  // A kink or a domain edge inside the finite-difference step.
  if (r.has_kinks()) return "the checker reports a non-differentiable point";
  return "";
}

void check_case(const ProgramCase& p, const std::string& property, CaseStats* stats, const fs::path& dir,
                bool programs, const registry::OpTable& ops, fixtures::EngineProcess* engine, const OpSpec* op = nullptr) {
  oracle::GradCheckResult r;
  std::string error;
  bool finite = true;
  fixtures::Fixture f;
  fixtures::ReplayResult run;
  bool differential = false;  // only the differential check failed: gradients agree
  try {
    f = to_fixture(p, "", ops, engine);
    finite = point_ok(f, programs, ops, &error, engine, &run);
    if (finite && error.empty()) {
      const fixtures::FixtureCheck check = check_fixture(f, options_for(op, p.dtype), ops, engine);
      if (check.result) {
        r = *check.result;
      } else if (check.status == fixtures::CheckStatus::Fail) {
        error = check.reason;
      }  // skipped (no leaf requires grad): nothing to check, a pass
      if (engine && error.empty() && r.passed && !r.has_kinks()) {
        // Second order in float32: two engines' summation orders differ by float32 rounding of a
        // backward's backward, as the checker's own slack for it says (kSecondOrderFloat32Slack).
        const double floor = p.second_order && p.dtype == DType::Float32 ? kSecondOrderFloat32Slack : 0.0;
        if (const std::string d = differs(f, run, ops, floor); !d.empty()) {
          error = "the engine and gradoracle differ: " + d;
          differential = true;
        }
      }
    }
  } catch (const std::exception& e) {
    error = std::string("the program threw: ") + e.what();
  }
  if (error.empty()) {
    if (const std::string why = not_a_point(f, run, r, finite, p.second_order, ops); !why.empty()) {
      if (stats) ++stats->discarded;
      RC_DISCARD(why);
    }
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
  // Second order in float32 adds a backward's rounding to the first's: a near-zero entry (the
  // gradient of a softmax under a constant upstream, exactly 0) is off by a few float32 ulps of
  // the terms that cancel in it. Judged in float64 like the ill-conditioned programs below.
  const bool float32_rounding =
      !r.worst.empty() && r.worst.front().abs_error < (p.second_order ? kSecondOrderFloat32Slack : kProgramFloat32Slack);
  if ((programs || p.second_order) && error.empty() && p.dtype == DType::Float32 && !r.worst.empty() &&
      (r.worst.front().rel_error < kFloat32Conditioning || float32_rounding)) {
    // A small relative error in float32 that float64 does not show: rounding amplified by
    // an ill-conditioned composition (1 - tanh² near saturation), not a wrong gradient.
    ProgramCase wide = p;
    wide.dtype = DType::Float64;
    const fixtures::FixtureCheck again = gradcheck_case(wide, ops, engine);
    if (again.passed()) {
      if (stats) ++stats->discarded;
      RC_DISCARD("float32 rounding under ill-conditioning (float64 passes)");
    }
  }
  const std::string diagnosis = error.empty() ? r.to_string() : error;
  const detail::WrittenCase written =
      write_counterexample(p, property, diagnosis, dir, ops, engine, error.empty() && !r.passed ? &r : nullptr);
  if (stats) {
    stats->last_failure = p;
    stats->last_diagnosis = diagnosis;
    stats->last_fixture = written.path;
    stats->last_replay_fails = written.replay_fails;
    stats->last_gradcheck_fails = !written.path.empty() && !differential;
  }
  RC_FAIL(property + ": " + diagnosis);  // the fixture is the result's (PropertyResult::fixture)
}

}  // namespace

fixtures::FixtureCheck gradcheck_case(const ProgramCase& p, const registry::OpTable& ops, fixtures::EngineProcess* engine) {
  return check_fixture(to_fixture(p, "", ops, engine), {}, ops, engine);
}

void prop_op_gradcheck(const OpSpec& op, DType dtype, CaseStats* stats, const fs::path& dir,
                       const registry::OpTable& ops, fixtures::EngineProcess* engine) {
  const OpCase c = *gen_op_case(op, dtype);
  check_case(to_program(c), op_property(op, dtype), stats, dir, false, ops, engine, &op);
}

void prop_program_gradcheck(DType dtype, CaseStats* stats, const ProgramOptions& options, const fs::path& dir,
                            fixtures::EngineProcess* engine) {
  ProgramCase p = *gen_program(dtype, options);
  check_case(p, program_property(dtype), stats, dir, true, *options.table, engine);
}


void prop_op_gradgradcheck(const OpSpec& op, DType dtype, CaseStats* stats, const fs::path& dir,
                           const registry::OpTable& ops, fixtures::EngineProcess* engine) {
  const OpCase c = *gen_op_case(op, dtype);
  if (at_declared_kink(c)) {
    if (stats) ++stats->discarded;
    RC_DISCARD("an argument sits at a declared kink");
  }
  ProgramCase p = to_program(c);
  p.second_order = true;
  check_case(p, op2_property(op, dtype), stats, dir, false, ops, engine, &op);
}

void prop_program_gradgradcheck(DType dtype, CaseStats* stats, const ProgramOptions& options, const fs::path& dir,
                                fixtures::EngineProcess* engine) {
  ProgramCase p = *gen_program(dtype, options);
  p.second_order = true;
  check_case(p, program2_property(dtype), stats, dir, true, *options.table, engine);
}

// ---------------------------------------------------------------- reference inputs

fixtures::Fixture reference_fixture(const OpSpec& op, const registry::ReferenceInput& r, DType dtype) {
  const ProgramCase p = to_program(reference_case(op, r, dtype));
  fixtures::Fixture f = to_fixture(p, op.name + " at its reference input \"" + r.label + "\"");
  f.name = "reference/" + op.name + "/" + name(dtype) + "/" + r.label;
  f.source = {{"engine", "gradoracle"}, {"reference", op.name + ": " + r.label}};
  if (r.value) {
    fixtures::ExpectStatement e;
    e.kind = fixtures::ExpectKind::Value;
    e.of = "y";
    e.literal = fixtures::Literal{r.value->shape, r.value->data, std::nullopt};
    f.program.insert(f.program.begin() + 1, fixtures::Statement{e, std::nullopt});
  }
  size_t k = 0;
  for (const auto& [leaf, t] : p.leaves) {
    if (k >= r.grads.size()) break;
    fixtures::ExpectStatement e;
    e.kind = fixtures::ExpectKind::Grad;
    e.of = leaf;
    e.literal = fixtures::Literal{t.shape, r.grads[k++], std::nullopt};
    f.program.push_back(fixtures::Statement{e, std::nullopt});
  }
  return f;
}

namespace {

// The checker's worst entries into a failure's worst errors.
void record_worst(const fixtures::FixtureCheck& c, ReferenceFailure& f) {
  if (!c.result) return;
  for (const oracle::EntryReport& e : c.result->worst) {
    f.worst_abs = std::max(f.worst_abs, e.abs_error);
    f.worst_rel = std::max(f.worst_rel, e.rel_error);
    if (e.allowed > 0) f.worst_ratio = std::max(f.worst_ratio, e.abs_error / e.allowed);
  }
}

// Whether every value bound by the replay, and every leaf's grad, is finite.
std::string first_nonfinite(const fixtures::ReplayResult& run) {
  for (const auto& [n, t] : run.env) {
    for (double v : t.to_vector())
      if (!std::isfinite(v)) return n + " is not finite";
    if (t.grad().defined())
      for (double v : t.grad().to_vector())
        if (!std::isfinite(v)) return "the grad of " + n + " is not finite";
  }
  return "";
}

}  // namespace

std::optional<ReferenceFailure> check_references(const OpSpec& op, DType dtype, const fs::path& dir,
                                                 const registry::OpTable& ops, int* checked,
                                                 fixtures::EngineProcess* engine) {
  for (const registry::ReferenceInput& r : op.references) {
    if (checked) ++*checked;
    ReferenceFailure failure{r.label, "", {}, !r.grads.empty()};
    const fixtures::Fixture f = reference_fixture(op, r, dtype);
    try {
      const fixtures::ReplayResult replayed = run_case(f, true, ops, engine);
      if (!replayed.passed()) {
        failure.diagnosis = replayed.failures.front().to_string();
      } else if (std::string bad = first_nonfinite(replayed); !bad.empty()) {
        failure.diagnosis = bad + " (the op must stay finite here, as PyTorch does)";
      } else if (r.grads.empty()) {
        const fixtures::FixtureCheck c = check_fixture(f, options_for(&op, dtype), ops, engine);
        record_worst(c, failure);
        if (!c.passed()) failure.diagnosis = c.result ? c.result->to_string() : c.reason;
        else if (c.result && c.result->has_kinks())
          failure.diagnosis = "finite differences see a kink: pin the gradient (ReferenceInput::grads) or move the point";
      }
    } catch (const std::exception& e) {
      failure.diagnosis = std::string("the op threw: ") + e.what();
    }
    if (failure.diagnosis.empty()) continue;
    failure.diagnosis = op.name + " at its reference input \"" + r.label + "\" (" + name(dtype) + "): " + failure.diagnosis;
    try {
      fs::create_directories(dir);
      const fs::path path = counterexample_file(reference_property(op, dtype), dir);
      fixtures::Fixture written = f;
      written.description = failure.diagnosis;
      fixtures::write_fixture(written, path);
      failure.fixture = fs::absolute(path);
    } catch (const std::exception&) {
      // reported without a fixture
    }
    return failure;
  }
  return std::nullopt;
}

std::vector<fs::path> counterexample_files(const OpSpec* op, DType dtype, const fs::path& dir, bool second_order) {
  if (second_order) return {counterexample_file(op ? op2_property(*op, dtype) : program2_property(dtype), dir)};
  if (!op) return {counterexample_file(program_property(dtype), dir)};
  return {counterexample_file(reference_property(*op, dtype), dir), counterexample_file(op_property(*op, dtype), dir)};
}

SavedCases rerun_saved(const OpSpec* op, DType dtype, const fs::path& dir, const registry::OpTable& ops,
                       bool second_order, fixtures::EngineProcess* engine) {
  SavedCases out;
  for (const fs::path& file : counterexample_files(op, dtype, dir, second_order)) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) continue;
    fixtures::Fixture f;
    try {
      f = fixtures::read_fixture(file, ops);
    } catch (const std::exception& e) {
      out.unreadable.push_back(file.string() + ": " + e.what());
      continue;
    }
    ++out.checked;
    ReferenceFailure failure{file.filename().string(), "", fs::absolute(file, ec), false};
    // A case the properties wrote is judged as its property judged it: its expects are facts for
    // a replay (finite differences and gradoracle's values at the time), not pinned gradients.
    const bool written_case = f.source.is_object() && f.source.value("generator", "") == "properties";
    try {
      const fixtures::ReplayResult replayed = run_case(f, !written_case, ops, engine);
      if (!replayed.passed()) {
        failure.diagnosis = replayed.failures.front().to_string();
        failure.pinned = !written_case;
      } else {
        const fixtures::FixtureCheck c = check_fixture(f, options_for(op, dtype), ops, engine);
        if (!c.passed()) failure.diagnosis = c.result ? c.result->to_string() : c.reason;
        record_worst(c, failure);
        if (written_case && !c.passed() && c.result) {
          // Judged as its property judges a drawn case: a point the property draws again at
          // (one an older generator did not keep away from) is not judged.
          std::string error;
          fixtures::ReplayResult run;
          const bool finite = point_ok(f, !op, ops, &error, engine, &run);
          const std::string why = error.empty() ? not_a_point(f, run, *c.result, finite, second_order, ops) : "";
          if (!why.empty()) {
            out.not_judged.push_back(file.string() + ": " + why);
            --out.checked;
            continue;
          }
        }
      }
    } catch (const std::exception& e) {
      failure.diagnosis = std::string("the program threw: ") + e.what();
    }
    if (failure.diagnosis.empty()) continue;
    failure.diagnosis = "the case saved in " + file.string() + " by an earlier run fails again: " + failure.diagnosis;
    out.failure = std::move(failure);
    return out;
  }
  return out;
}

}  // namespace gradoracle::properties
