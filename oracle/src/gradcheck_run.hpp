#pragma once
// Internal to the checker: one check's state (Run) and what its parts share. The parts:
//   gradcheck.cpp          hold(), setup and result (go), the analytic side, judging entries
//   gradcheck_numeric.cpp  the numeric side: float64 finite differences, steps, Richardson, estimates
//   gradcheck_fast.cpp     fast mode: vᵀJu probes and spot checks
//   gradcheck_rounding.cpp the float32 analytic side's rounding ρ (the float64 backward, f'')
//   gradcheck_report.cpp   advice, the text and JSON reports
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle::detail {

constexpr double kEps64 = std::numeric_limits<double>::epsilon();
constexpr double kEps32 = std::numeric_limits<float>::epsilon();
constexpr double kRounding = 16.0 * kEps64;  // a float64 function's own rounding: ~16 ε |f|
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The full-mode inequality's right-hand side (docs/comparison.md, rule 2):
//     atol + rtol·max(|a|, |n|) + slack
// where slack is what the caller adds (k·estimate for the numeric side's own error, ρ for the
// float32 analytic side's rounding); an infinite or NaN scale adds no rtol term (an infinite
// allowance would pass anything). Used for every entry, spot check, kink test and ρ's float64 test.
inline double entry_allowance(const Tolerance& tol, double a, double n, double slack) {
  const double scale = std::max(std::abs(a), std::abs(n));
  return tol.atol + tol.rtol * (std::isfinite(scale) ? scale : 0.0) + slack;
}

// hold()'s state: a detach the checker fixes at the unperturbed float64 run's value.
struct HoldState {
  enum class Mode { Pass, Record, Replay } mode = Mode::Pass;
  std::vector<Tensor> values;  // recorded on the unperturbed run, in call order
  size_t next = 0;             // replay cursor
  bool mismatch = false;       // a replay saw more calls or other shapes than the record
};

// Installs `state` in `mode` for the scope (restores the previous state on exit).
class HoldScope {
 public:
  HoldScope(HoldState& state, HoldState::Mode mode);
  ~HoldScope();
  HoldScope(const HoldScope&) = delete;
  HoldScope& operator=(const HoldScope&) = delete;

 private:
  HoldState* previous_;
};

// The state hold() answers from on this thread (the innermost HoldScope's), or null outside any.
const HoldState* active_hold();

// A number for a report: 6 significant digits; for JSON: NaN and ±Inf as strings.
std::string num(double v);
nlohmann::json jnum(double v);
const char* scheme_name(Scheme s);
const char* step_name(Step s);

using Values = std::vector<std::vector<double>>;  // per output, row-major float64

// One numeric column: d outputs / d one input element, for every output element.
struct Column {
  Values numeric, estimate, left, right;
  // 1: a kink (the one-sided slopes keep their jump at h/16); 2: a kink within h of the point
  // (a jump at h, none at h/16): smooth in float64, but float32's rounding of the forward can
  // land on it (a tie of two values 1e-7 apart is exact in float32).
  std::vector<std::vector<char>> kink;
};

// One check of f at inputs: GradChecker::check is Run(options, f, inputs).go().
class Run {
 public:
  Run(const GradCheckOptions& o, const Function& f, const std::vector<Tensor>& inputs)
      : o_(o), f_(f), inputs_(inputs) {}
  GradCheckResult go();

 private:
  // numeric side, float64 (gradcheck_numeric.cpp)
  // f at x64 into `out`, whose vectors keep their capacity from call to call (a column
  // evaluates f thousands of times over the same shapes).
  void evaluate(const std::vector<Tensor>& x64, Values& out);
  Values eval_shift(int i, const std::vector<double>& delta);
  void eval_element(int i, int64_t l, double step, Values& out);
  // Column l of input i into `c` (its vectors reused likewise); only the selected outputs' rows are set.
  void column(int i, int64_t l, Column& c);
  void prefetch_columns(const std::vector<std::pair<int, int64_t>>& columns);  // options' prefetch, column(i, l) of each (i, l)
  void prefetch_directions(const std::vector<std::vector<double>>& w);  // options' prefetch, directional(i, w[i]) for the selected i
  void directional(int i, const std::vector<double>& w, Values& numeric, Values& estimate);
  // analytic side, the inputs' dtype (gradcheck.cpp)
  // grads = upstreamᵀ·J_j, backward run `runs` times (twice: they must agree, nondet_tol).
  bool vjp(int j, const std::vector<double>& upstream, Values& grads, int runs);
  Values one_hot_row(int j, int64_t k, int runs);
  // checks (gradcheck.cpp; fast(): gradcheck_fast.cpp; advise(): gradcheck_report.cpp)
  void structural_checks();
  void full_pairs(const std::vector<int>& ins, const std::vector<int>& outs);
  void fast();
  void take(const EntryReport& e);  // counts one judged entry; keeps it if among the worst
  void keep(std::vector<EntryReport>& list, double& floor, const EntryReport& e, bool by_jump);
  std::string advise() const;
  void problem(const std::string& p) {
    if (std::find(r_.problems.begin(), r_.problems.end(), p) == r_.problems.end()) r_.problems.push_back(p);
  }
  // One judged entry; one that fails in float32 is judged again with its rounding ρ.
  EntryReport entry(int i, int j, int64_t k, int64_t l, double analytic, const Column& c);
  // the float32 analytic side's rounding ρ (gradcheck_rounding.cpp)
  bool analytic_in_float32(int i, int j) const;
  double rounding(const EntryReport& e);
  double analytic64(int i, int j, int64_t k, int64_t l);  // NaN when the float64 backward fails
  double curvature(int i, int64_t l, int j, int64_t k);   // ∂²y/∂x²; NaN when a float64 run fails
  PairReport& pair(int i, int j);

  const GradCheckOptions& o_;
  const Function& f_;
  const std::vector<Tensor>& inputs_;
  GradCheckResult r_;
  size_t last_pair_ = 0;  // r_.pairs' entry pair() found last
  std::vector<int> sel_in_, sel_out_;
  std::vector<Tensor> leaves_, outs_;  // the analytic run
  std::vector<Tensor> x64_;            // float64 copies of the inputs
  std::vector<Tensor> shifted_;        // the perturbed runs' arguments: x64_'s values, one input shifted in place
  Values base_;                        // the unperturbed float64 outputs
  Values fp_, fm_, fp2_, fm2_, fpf_, fmf_;          // column()'s evaluations, reused
  std::vector<std::vector<char>> suspicious_;      // column()'s entries to look at again at h/16
  std::vector<DType> base_dtypes_;
  HoldState hold_;
  std::vector<EntryReport> failing_, kinks_, worst_, nonfinite_;  // the worst few of each (bounded)
  double failing_floor_ = -1, kinks_floor_ = -1, worst_floor_ = -1, nonfinite_floor_ = -1;  // below these, an entry cannot make the list
  // Whether every failing entry has analytic = ratio·numeric (a wrong factor), tracked over all.
  double ratio_ = kNaN;
  bool same_ratio_ = true;
  bool probe_unexplained_ = false;
  bool backward_raised_ = false;    // a backward raised: its entries' analytic side is NaN, not computed
  std::vector<std::string> notes_;  // observations that are not failures, appended to the advice
  // For ρ, built on first use: the backward on float64 copies (graph64_: 0 not yet, 1 built,
  // −1 failed), its rows by (output, element), second differences by (input, element), the
  // analytic run's outputs as doubles.
  int graph64_ = 0;
  std::vector<Tensor> leaves64_, outs64_;
  std::map<std::pair<int, int64_t>, Values> rows64_;
  std::map<std::pair<int, int64_t>, Values> curvature_;
  Values outs32_;
};

}  // namespace gradoracle::oracle::detail
