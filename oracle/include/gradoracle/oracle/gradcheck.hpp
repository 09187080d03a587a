#pragma once
// GradChecker: the engine's Jacobian against float64 finite differences.
//
// Full mode passes when every checked entry (rule 2 of docs/comparison.md; fast mode: rule 3) (analytic a from backward, numeric n) satisfies
//
//     |a − n| ≤ atol + rtol·max(|a|, |n|) + k·estimate + ρ          (k = estimate_weight)
//
// where `estimate` bounds the numeric side's own error (rounding 16·ε₆₄·|f|/h, plus, under the
// Richardson scheme, the truncation estimate |R − D(h/2)|), and ρ the analytic side's rounding.
//
// ρ, the float32 analytic side's rounding (0 in float64, or with float32_rounding off). A float32
// backward works on float32 forward values, each a few ulps from the exact one; where the
// gradient depends steeply on them, that rounding moves it by more than atol: float32 tanh(u)
// is ±1 once 1 − |tanh u| is below an ulp (|u| ≳ 8), so 1 − tanh²u is exactly 0 where the true
// gradient is ~1e-5 (saturation), and a difference of nearly equal forward values loses its
// digits (cancellation). An entry whose input or output is float32 and that fails without ρ is
// judged again with
//
//     ρ = √(a₆₄² + 2·|f''|·δ) − |a₆₄|,     δ = 4·max(ε₃₂·|y₆₄|, |y₃₂ − y₆₄|)
//
// where a₆₄ is the same backward run on the float64 copies, f'' = ∂²y/∂x² at that entry (a
// float64 second difference of step 1e-3·max(1, |x|), or 1e-3 under Step::Absolute), y₆₄ and
// y₃₂ the output element in float64 and as the float32 run computed it, so δ is a few ulps of
// the output or the rounding actually seen in it. ρ is how far the float64 gradient moves over
// the inputs whose outputs lie within δ of y₆₄ (|f'|·d + |f''|·d²/2 ≤ δ), which the float32 run
// cannot tell apart. ρ is granted only when a₆₄ itself passes the float64 inequality
// (gradcheck_tolerance(Float64), k·estimate): a backward wrong in every dtype gets none. It is
// loose at a stationary point (√(2|f''|δ) where f' = 0), where a float32-only error of that size
// would pass. Fast mode applies it to entries (spot checks, a failing pair's full Jacobian), not
// to probes.
//
// Non-finite entries: where the analytic or the numeric side is NaN or ±Inf, the inequality
// says nothing, so such an entry is not judged by it: it is flagged `nonfinite`, counted in
// `nonfinite_count`, listed in `nonfinite` (not in `worst`), and fails the check (as in
// torch.autograd.gradcheck, whose allclose has equal_nan=False) — unless both sides are the
// same non-finite value and `allow_nonfinite` is set. The result's status() is then NonFinite.
//
// Fast mode (torch's fast_mode, made not to go blind): q probes of Gaussian u (input-sized,
// scaled by the step's per-element scale s) and v (output-sized) compare, for each selected
// input/output pair, a = vᵀ·J·u (one backward with upstream v, dotted with u) with
// n = vᵀ·(f(x+εu) − f(x−εu))/2ε, passing when
//
//     |a − n| ≤ atol·‖u‖·‖v‖ + rtol·‖Jᵀv‖·‖u‖/√N + k·estimate        (N = the input's numel)
//
// i.e. the tolerance scales with the norms involved (≈ atol·√(NM) + rtol·‖J‖_F), not with N·M;
// plus `spot_checks` random single entries per pair under the full-mode inequality, drawn as a
// grid: `spot_checks` random columns l_s per input and rows k_s per output, pair (i, j) checking
// entries (k_s, l_s), so f runs once per input column and backward once per output row (not
// once per pair). A failing pair gets its full Jacobian computed, so the report names the element.
//
// Fast mode guarantee: let E = A − J be the engine's error on one input/output pair and
// τ = atol·√(N·M) + rtol·‖J‖_F (the probe tolerance, up to the norms' fluctuation). Each probe
// sees vᵀEu, of standard deviation ‖E‖_F; a rank-one error (one wrong entry, the hardest case)
// escapes one probe with probability P(|Z₁Z₂| < τ/‖E‖_F) (Z₁, Z₂ standard normals), which is
// ≈ 0.22 at ‖E‖_F = 10τ, ≈ 0.036 at 100τ, ≈ 0.005 at 1000τ. With q independent probes, an error
// of ‖E‖_F ≥ 100τ escapes with probability ≤ 0.036^q (5e-5 at q = 3), ≥ 1000τ with ≤ 0.005^q
// (1.4e-7 at q = 3). Errors below τ are invisible to the probes (full mode catches them down to
// atol + rtol·|J_kl| per entry); the spot checks catch a wrong entry with probability ≈ s/(N·M).
//
// Detached values: the numeric side must see a detach as a constant fixed at the unperturbed
// run's value, as the analytic side does. A function that detaches calls `hold(t)` instead of
// `t.detach()` (and rebinds instead of `t.detach_()`): outside a check, or on the analytic
// run, it is `t.detach()`; on the checker's unperturbed float64 run it records the value; on
// every perturbed run it returns that recorded value (the k-th hold call gets the k-th value).
//
// Second order (gradgradcheck; GradCheckOptions::order = 2), as torch.autograd.gradgradcheck:
// the checked function is the vector–Jacobian product itself,
//
//     F(x, v) = Jᵀ(x)·v = autograd::grad(f(x), x, v, create_graph=true, allow_unused=true),
//
// of f's selected inputs x and one upstream v per selected output (random: uniform in [−1, 1],
// from `seed`, in the output's dtype; or given), whose outputs are the grads, one per selected
// input (a grad the outputs do not reach is zeros). The checker above runs on F unchanged: the
// analytic side is the backward through the graph create_graph recorded (∂F/∂x = Σₖ vₖ·∂²fₖ/∂x²,
// ∂F/∂v = J), the numeric side differences F in float64, where F is the plain first backward
// (create_graph=false, the fused formulas first-order gradcheck verifies) on fresh leaves; the
// upstream columns, which move v only, take the backward of the unperturbed run's graph (kept;
// the same values as a fresh run, bit for bit) without calling f again, unless f calls hold(). Same
// inequality, tolerances, ρ, full and fast mode, report; F's inputs are named in0.., then
// upstream0.. (the upstream of f's output j), its outputs grad(in0).., so an entry reads
// "d grad(in1)[2, 0] / d upstream0[1]". hold() in f works as in first order (F calls f once).
// A grad that exists but carries no graph (a formula built from a non-recording kernel) has a
// zero analytic Jacobian, so the check fails wherever the true second derivative is not 0.
//
// JVP consistency (jvpcheck): a forward-mode derivative without a forward mode. For a random
// direction u (Gaussian, scaled like fast mode's: u_l·max(1, |x_l|) under Step::Relative) over
// the selected inputs and any upstream v, the double-VJP trick gives
//
//     J·u = ∂/∂v ⟨Jᵀv, u⟩        (Jᵀv by grad with create_graph, then grad of ⟨Jᵀv, u⟩ in v)
//
// which is checked against (f(x+tu) − f(x−tu))/2t. It is the checker above run on
// φ(t) = f(x + t·u) at t = 0 (one 0-d input named t, the outputs of f), whose backward is
// g ↦ ⟨g, J·u⟩ with J·u from the double VJP: every output element k is an entry d out_j[k] / d t
// = (J·u)_k, judged by the same inequality, ρ and report (worst entries by output element).
// It checks the derivative of each backward formula in its upstream (linearity, and that the
// formula records a graph at all), not its derivative in the saved inputs (gradgradcheck's part).
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradoracle/engine/tensor.hpp"
#include "gradoracle/oracle/tolerance.hpp"

namespace gradoracle::oracle {

// The function under check: tensors in, tensors out. It must build its outputs from its
// arguments with engine ops (so backward reaches them) and be deterministic.
// The checker perturbs the float64 arguments of its numeric runs in place between calls (as
// torch.autograd.gradcheck does): f must not keep them, or views of them, past its return.
using Function = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

// A detach that the checker holds at the unperturbed run's value (see above).
Tensor hold(const Tensor& t);

enum class Scheme {
  Central,     // (f(x+h) − f(x−h)) / 2h: error O(h²)
  Richardson,  // R = (4·D(h/2) − D(h))/3: error O(h⁴), estimate |R − D(h/2)|; twice the evaluations
};
enum class Step {
  Relative,  // h = eps·max(1, |x|): right across scales
  Absolute,  // h = eps
};

// Nondeterminism (check_nondeterminism): a backward run twice with the same upstream must give
// grads within nondet_tol. Full mode's rows of an output with at most two elements run twice
// each, as torch.autograd.gradcheck runs every row; an output with more elements has each row
// run once and one backward of a random upstream (uniform in [−1, 1], from `seed`) run twice:
// every row's formula is in that backward with a nonzero weight, at 2 extra backwards instead of
// one per element (torch's fast mode checks its random upstreams the same way). Fast mode runs
// each of its backwards twice. The zero upstream (check_undefined_grad) runs once. How many times
// a row runs: analytic_row_runs.
inline int analytic_row_runs(bool check_nondeterminism, int64_t output_elements) {
  return check_nondeterminism && output_elements <= 2 ? 2 : 1;
}

struct GradCheckOptions {
  double eps = 1e-6;                      // the finite-difference step (see `step`); 1e-6
  Step step = Step::Relative;             // h = eps·max(1, |x|) by default
  Scheme scheme = Scheme::Central;        // central differences by default
  std::optional<double> atol;             // default: gradcheck_tolerance(dtype).atol, loosest over inputs
  std::optional<double> rtol;             // default: gradcheck_tolerance(dtype).rtol, loosest over inputs
  double estimate_weight = 1.0;           // k, the weight of the numeric error estimate; 1
  double nondet_tol = 0.0;                // backward run twice must agree within this; 0 (exactly)
  bool check_nondeterminism = true;       // run backwards twice and compare (analytic_row_runs); true
  bool raise_exception = false;           // throw GradCheckError on failure instead of returning; false
  bool check_undefined_grad = true;       // a zero upstream must give zero or absent grads; true
  bool check_grad_dtypes = true;          // each .grad has its input's dtype and shape; true
  bool check_output_stability = true;     // outputs keep shape and dtype under perturbation; true
  bool detect_kinks = true;               // flag entries whose one-sided differences disagree; true
  bool kinks_fail = false;                // count a kink as a failure; false (reported apart)
  bool allow_nonfinite = false;           // an entry whose two sides are the same NaN/±Inf passes; false
  bool float32_rounding = true;           // grant a float32 analytic side its rounding ρ (see above); true
  std::vector<int> inputs;                // indices of the inputs to check; empty = all
  std::vector<int> outputs;               // indices of the outputs to check; empty = all
  bool fast_mode = false;                 // vᵀJu probes instead of the full Jacobian; false
  int probes = 3;                         // q, fast mode's Gaussian probes per pair (≥ 1); 3
  int spot_checks = 4;                    // fast mode's random single-entry checks per pair; 4
  bool explain_fast_failures = true;      // on a fast-mode mismatch, full Jacobian of that pair; true
  uint64_t seed = 0;                      // seeds fast mode's u, v and spot checks; 0
  int worst_k = 5;                        // entries kept in the report's worst list; 5
  int order = 1;                          // 1: f's Jacobian; 2: gradgradcheck (above); 1
  // Optional: told, before the numeric side evaluates f, the float64 points (every input's
  // values, in f's argument order) of full mode's next few columns' central differences, of
  // fast mode's next probe's directional differences, or of its spot checks' columns, at most
  // kPrefetchPoints at a time; f is still called at each. An f that runs elsewhere (an outside
  // engine, fixtures/engine_check.hpp) computes them in one round trip and answers f's calls
  // from what it got. Not called for the kink test's finer step, or ρ.
  std::function<void(const std::vector<std::vector<Tensor>>& points)> prefetch;
  // Optional: one upstream v_j per output of f, of its output's shape (empty: not asked). Full
  // mode then also gives, per selected input i, Σ_j v_jᵀ·∂out_j/∂in_i over the selected outputs
  // from the same finite-difference columns (GradCheckResult::numeric_vjp): what backward of
  // every output with its v_j should accumulate into in_i's .grad, as finite differences say.
  std::vector<Tensor> vjp_upstreams;
};

// The most points one prefetch call names.
inline constexpr int kPrefetchPoints = 64;

// One Jacobian entry: d outputs[output][output_index] / d inputs[input][input_index].
struct EntryReport {
  int input = 0;                       // input position
  int output = 0;                      // output position
  int64_t input_flat = 0;              // element row-major offset in the input
  int64_t output_flat = 0;             // element row-major offset in the output
  std::vector<int64_t> input_index;    // element multi-index in the input
  std::vector<int64_t> output_index;   // element multi-index in the output
  double analytic = 0.0;               // from backward
  double numeric = 0.0;                // finite differences, float64
  double abs_error = 0.0;              // |a − n|
  double rel_error = 0.0;              // |a − n| / max(|a|, |n|) (0 when both are 0)
  double estimate = 0.0;               // the numeric side's error estimate
  double rounding = 0.0;               // ρ, the float32 analytic side's rounding (0 unless granted)
  double allowed = 0.0;                // atol + rtol·max(|a|, |n|) + k·estimate + ρ
  bool kink = false;                   // one-sided differences disagree: not differentiable here
  bool nonfinite = false;              // analytic or numeric is NaN or ±Inf: not judged by the inequality
  double left = 0.0;                   // backward one-sided difference (f(x) − f(x−h))/h
  double right = 0.0;                  // forward one-sided difference (f(x+h) − f(x))/h
  bool passed() const { return !kink && !nonfinite && abs_error <= allowed; }
  // Both sides the same non-finite value (NaN and NaN, or equal infinities).
  bool nonfinite_agree() const;
  const char* status() const;          // "pass", "fail", "kink", "nonfinite"
};

// One fast-mode probe of an input/output pair.
struct ProbeReport {
  int input = 0;
  int output = 0;
  int probe = 0;          // 0..q−1
  double analytic = 0.0;  // vᵀ·J·u from backward
  double numeric = 0.0;   // vᵀ·(f(x+εu) − f(x−εu))/2ε
  double abs_error = 0.0;
  double allowed = 0.0;   // atol·‖u‖‖v‖ + rtol·‖Jᵀv‖‖u‖/√N + k·estimate
  bool passed = true;
  bool nonfinite = false; // vᵀJu or its difference is NaN/±Inf (the pair's full Jacobian says where)
};

// One input/output pair's summary.
struct PairReport {
  int input = 0;
  int output = 0;
  Shape input_shape;
  Shape output_shape;
  int64_t checked = 0;     // entries compared (full mode, or fast mode's spot checks)
  int64_t failures = 0;    // entries outside the inequality
  int64_t kinks = 0;       // entries flagged as non-differentiable points
  int64_t nonfinite = 0;   // entries with a NaN/±Inf analytic or numeric side
  bool probes_passed = true;  // fast mode: every probe of this pair passed
  bool full_jacobian = false; // the full Jacobian was computed (full mode, or explaining a fast failure)
};

enum class GradCheckStatus {
  Passed,     // every entry within tolerance, no problem
  Failed,     // a finite entry or probe outside its tolerance, or a structural problem
  NonFinite,  // nothing else wrong, but some entry's analytic or numeric side is NaN/±Inf
};
const char* name(GradCheckStatus s);  // "passed", "failed", "nonfinite"

struct GradCheckResult {
  bool passed = true;                 // no failing entry, probe or structural problem
  std::string check = "gradcheck";    // "gradcheck", "gradgradcheck" or "jvpcheck"
  std::string checked_function;       // what the entries differentiate, when not f itself
  std::vector<std::string> input_names;   // names in reports; empty = in0, in1, ...
  std::vector<std::string> output_names;  // names in reports; empty = out0, out1, ...
  bool fast_mode = false;
  uint64_t seed = 0;                  // fast mode's seed, to replay
  double eps = 0.0;                   // the step and scheme used
  Step step = Step::Relative;
  Scheme scheme = Scheme::Central;
  Tolerance tolerance;                // the atol and rtol applied
  double estimate_weight = 1.0;
  std::vector<Shape> input_shapes;
  std::vector<DType> input_dtypes;
  std::vector<Shape> output_shapes;
  std::vector<PairReport> pairs;      // per checked input/output pair
  std::vector<EntryReport> worst;     // the failing entries, then the passing ones, by abs_error/allowed
                                      // (largest first), ≤ worst_k in all
  std::vector<EntryReport> kinks;     // entries flagged as kinks (≤ worst_k shown; see kink_count)
  std::vector<EntryReport> nonfinite; // entries with a NaN/±Inf side (≤ worst_k shown; see nonfinite_count)
  std::vector<ProbeReport> probes;    // fast mode's probes
  std::vector<std::string> problems;  // structural failures: nondeterminism, zero upstream, dtype, shape
  int64_t failure_count = 0;          // failing entries, all pairs
  int64_t kink_count = 0;             // kink entries, all pairs
  int64_t nonfinite_count = 0;        // non-finite entries, all pairs (not in failure_count)
  int64_t nonfinite_failures = 0;     // of those, the ones that fail (all, unless allow_nonfinite)
  std::string advice;                 // what to try, when something failed or kinked
  // With options.vjp_upstreams, full mode: per input, the numeric vector-Jacobian product (float64,
  // the input's shape; NaN where f raised at a perturbed point); undefined for inputs not selected.
  std::vector<Tensor> numeric_vjp;

  explicit operator bool() const { return passed; }
  bool has_kinks() const { return kink_count > 0; }  // property generators draw again
  bool has_nonfinite() const { return nonfinite_count > 0; }
  GradCheckStatus status() const;
  // A diagnosis: the worst entry by input/output/element, values, errors, shapes, seed, advice.
  std::string to_string() const;
  nlohmann::json to_json() const;
};
std::ostream& operator<<(std::ostream& os, const GradCheckResult& r);
std::ostream& operator<<(std::ostream& os, const EntryReport& e);

// Thrown by check() when raise_exception is set and the check failed.
class GradCheckError : public std::runtime_error {
 public:
  explicit GradCheckError(GradCheckResult result);
  const GradCheckResult& result() const { return result_; }

 private:
  GradCheckResult result_;
};

class GradChecker {
 public:
  explicit GradChecker(GradCheckOptions options = {}) : options_(std::move(options)) {}
  const GradCheckOptions& options() const { return options_; }
  // Checks f at `inputs` (left untouched: the checker works on copies). Only inputs of a
  // floating dtype that are selected are differentiated; the others are passed as given.
  GradCheckResult check(const Function& f, const std::vector<Tensor>& inputs) const;

 private:
  GradCheckOptions options_;
};

// GradChecker(options).check(f, inputs).
inline GradCheckResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                                 const GradCheckOptions& options = {}) {
  return GradChecker(options).check(f, inputs);
}

// The second-order check (above) of f at inputs: the checker on F(x, v) = Jᵀv. `upstreams`, if
// given, are the v, one per selected output of f, each of its output's shape; empty = random.
// options.inputs/outputs select f's inputs and outputs; options.order is ignored.
GradCheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs, const GradCheckOptions& options = {},
                              const std::vector<Tensor>& upstreams = {});

// The JVP consistency check (above) of f at inputs along a random u drawn from options.seed:
// J·u by the double VJP against (f(x+tu) − f(x−tu))/2t. options.inputs selects the inputs u
// moves; options.order is ignored.
GradCheckResult jvpcheck(const Function& f, const std::vector<Tensor>& inputs, const GradCheckOptions& options = {});

}  // namespace gradoracle::oracle
