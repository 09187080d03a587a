// The checker's core: hold(), one run's setup and result (Run::go), the analytic side (backward
// by vector-Jacobian products), judging entries under the full-mode inequality, and the result's
// status. The numeric side, fast mode and the reports are in gradcheck_numeric.cpp,
// gradcheck_fast.cpp and gradcheck_report.cpp.
#include "gradoracle/oracle/gradcheck.hpp"

#include <algorithm>
#include <cmath>

#include "gradcheck_run.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/compare.hpp"

namespace gradoracle::oracle {

namespace detail {
namespace {
thread_local HoldState* g_hold = nullptr;
}  // namespace

HoldScope::HoldScope(HoldState& state, HoldState::Mode mode) : previous_(g_hold) {
  state.mode = mode;
  state.next = 0;
  g_hold = &state;
}
HoldScope::~HoldScope() { g_hold = previous_; }
const HoldState* active_hold() { return g_hold; }
}  // namespace detail

using detail::HoldState;

namespace {
Tensor copy_as(const Tensor& t, DType dtype) { return Tensor::from_data(t.shape(), t.to_vector(), dtype); }
}  // namespace

Tensor hold(const Tensor& t) {
  HoldState* s = detail::g_hold;
  if (s == nullptr || s->mode == HoldState::Mode::Pass) return t.detach();
  if (s->mode == HoldState::Mode::Record) {
    s->values.push_back(copy_as(t, DType::Float64));
    return t.detach();
  }
  if (s->next >= s->values.size() || s->values[s->next].shape() != t.shape()) {
    s->mismatch = true;  // the function held other values than on the unperturbed run
    return t.detach();
  }
  return copy_as(s->values[s->next++], t.dtype());
}

namespace detail {
namespace {
constexpr uint64_t kReentrancyStream = 0x94D049BB133111EBull;  // full mode's random upstreams, apart from fast mode's

// The full-mode inequality, NaN matching NaN only: fills abs/rel error and allowed.
void judge(EntryReport& e, const Tolerance& tol, double k) {
  const double a = e.analytic, n = e.numeric;
  e.nonfinite = !std::isfinite(a) || !std::isfinite(n);
  const double scale = std::max(std::abs(a), std::abs(n));
  e.allowed = entry_allowance(tol, a, n, k * e.estimate + e.rounding);
  if (std::isnan(a) || std::isnan(n)) {
    e.abs_error = (std::isnan(a) && std::isnan(n)) ? 0.0 : kInf;
  } else if (std::isinf(a) || std::isinf(n)) {
    e.abs_error = a == n ? 0.0 : kInf;
  } else {
    e.abs_error = std::abs(a - n);
  }
  e.rel_error = e.abs_error == 0.0 ? 0.0 : (scale == 0.0 || !std::isfinite(scale)) ? kInf : e.abs_error / scale;
}
// How far outside its allowance an entry is (≤ 1 passes).
double badness(const EntryReport& e) {
  if (e.abs_error == 0.0) return 0.0;
  return e.allowed > 0.0 ? e.abs_error / e.allowed : kInf;
}
}  // namespace

PairReport& Run::pair(int i, int j) {
  // The last pair found first: full mode judges a column's entries pair by pair.
  if (last_pair_ < r_.pairs.size() && r_.pairs[last_pair_].input == i && r_.pairs[last_pair_].output == j)
    return r_.pairs[last_pair_];
  for (size_t k = 0; k < r_.pairs.size(); ++k) {
    if (r_.pairs[k].input == i && r_.pairs[k].output == j) {
      last_pair_ = k;
      return r_.pairs[k];
    }
  }
  last_pair_ = r_.pairs.size();
  PairReport p;
  p.input = i;
  p.output = j;
  p.input_shape = inputs_[static_cast<size_t>(i)].shape();
  p.output_shape = outs_[static_cast<size_t>(j)].shape();
  r_.pairs.push_back(p);
  return r_.pairs.back();
}

// grads[i] = (upstream on output j)ᵀ·J_ij for every selected input i (zeros for an absent grad;
// NaN if backward raised). Backward runs `runs` times; run twice, the two must agree (nondet_tol).
bool Run::vjp(int j, const std::vector<double>& upstream, Values& grads, int runs) {
  const Tensor& out = outs_[static_cast<size_t>(j)];
  grads.assign(inputs_.size(), {});
  for (int i : sel_in_) grads[static_cast<size_t>(i)].assign(static_cast<size_t>(inputs_[static_cast<size_t>(i)].numel()), 0.0);
  if (!out.requires_grad()) return true;  // a constant output: its Jacobian is zero
  const Tensor g = Tensor::from_data(out.shape(), upstream, out.dtype());
  for (int run = 0; run < runs; ++run) {
    for (int i : sel_in_) leaves_[static_cast<size_t>(i)].set_grad(Tensor());
    try {
      out.backward(g, /*retain_graph=*/true);
    } catch (const std::exception& e) {
      problem("backward of output " + std::to_string(j) + " raised: " + e.what());
      backward_raised_ = true;
      for (int i : sel_in_) std::fill(grads[static_cast<size_t>(i)].begin(), grads[static_cast<size_t>(i)].end(), kNaN);
      return false;
    }
    for (int i : sel_in_) {
      const size_t I = static_cast<size_t>(i);
      const Tensor grad = leaves_[I].grad();
      if (!grad.defined()) continue;
      if (o_.check_grad_dtypes && (grad.shape() != leaves_[I].shape() || grad.dtype() != leaves_[I].dtype())) {
        problem("input " + std::to_string(i) + "'s grad is " + to_string(grad.shape()) + " " + name(grad.dtype()) +
                ", the input " + to_string(leaves_[I].shape()) + " " + name(leaves_[I].dtype()));
      }
      if (grad.numel() != leaves_[I].numel()) continue;
      std::vector<double> v = grad.to_vector();
      if (run == 0) {
        grads[I] = std::move(v);
      } else {
        double worst = 0.0;
        for (size_t l = 0; l < v.size(); ++l) worst = std::max(worst, std::abs(v[l] - grads[I][l]));
        if (!(worst <= o_.nondet_tol)) {
          problem("nondeterministic backward: two backwards of output " + std::to_string(j) + " gave input " +
                  std::to_string(i) + " grads differing by " + num(worst) + " > nondet_tol " + num(o_.nondet_tol));
        }
      }
    }
  }
  for (int i : sel_in_) leaves_[static_cast<size_t>(i)].set_grad(Tensor());
  return true;
}

Values Run::one_hot_row(int j, int64_t k, int runs) {
  std::vector<double> up(static_cast<size_t>(outs_[static_cast<size_t>(j)].numel()), 0.0);
  up[static_cast<size_t>(k)] = 1.0;
  Values g;
  vjp(j, up, g, runs);
  return g;
}

EntryReport Run::entry(int i, int j, int64_t k, int64_t l, double analytic, const Column& c) {
  const size_t J = static_cast<size_t>(j), K = static_cast<size_t>(k);
  EntryReport e;
  e.input = i;
  e.output = j;
  e.input_flat = l;  // multi-indices are filled in only for the entries a report keeps
  e.output_flat = k;
  e.analytic = analytic;
  e.numeric = c.numeric[J][K];
  e.estimate = c.estimate[J][K];
  e.kink = c.kink[J][K] == 1;
  e.left = c.left[J][K];
  e.right = c.right[J][K];
  judge(e, r_.tolerance, o_.estimate_weight);
  if (!e.passed() && !e.kink && !e.nonfinite && o_.float32_rounding && analytic_in_float32(i, j)) {
    e.rounding = rounding(e);
    if (e.rounding > 0.0) judge(e, r_.tolerance, o_.estimate_weight);
    // A kink within h of a float64-smooth point that float32's forward reached (a tie its
    // rounding made exact): finite differences do not decide there.
    if (!e.passed() && c.kink[J][K] == 2) e.kink = true;
  }
  return e;
}

void Run::structural_checks() {
  if (!o_.check_undefined_grad) return;
  for (int j : sel_out_) {
    Values g;
    // once: nondeterminism is the rows' and the random upstream's to show (full_pairs, fast())
    if (!vjp(j, std::vector<double>(static_cast<size_t>(outs_[static_cast<size_t>(j)].numel()), 0.0), g, 1)) continue;
    for (int i : sel_in_) {
      double worst = 0.0;
      for (double x : g[static_cast<size_t>(i)]) worst = std::max(worst, std::abs(x));
      if (worst != 0.0) {
        problem("a zero upstream on output " + std::to_string(j) + " gave input " + std::to_string(i) +
                " a nonzero grad (max |g| = " + num(worst) + "): backward is not linear in its upstream");
      }
    }
  }
}

// The full Jacobian of the given inputs × outputs: rows by one-hot backwards, columns by differences.
void Run::full_pairs(const std::vector<int>& ins, const std::vector<int>& outs) {
  // analytic[i][j][l·M + k] = d out_j[k] / d in_i[l], by rows (one-hot backwards), stored by column
  std::vector<std::vector<std::vector<double>>> analytic(inputs_.size(), std::vector<std::vector<double>>(outs_.size()));
  for (int j : outs) {
    const size_t J = static_cast<size_t>(j), m = static_cast<size_t>(outs_[J].numel());
    for (int i : ins) analytic[static_cast<size_t>(i)][J].resize(static_cast<size_t>(inputs_[static_cast<size_t>(i)].numel()) * m);
    const int runs = analytic_row_runs(o_.check_nondeterminism, static_cast<int64_t>(m));
    for (size_t k = 0; k < m; ++k) {
      const Values row = one_hot_row(j, static_cast<int64_t>(k), runs);
      for (int i : ins) {
        const std::vector<double>& g = row[static_cast<size_t>(i)];
        std::vector<double>& a = analytic[static_cast<size_t>(i)][J];
        for (size_t l = 0; l < g.size(); ++l) a[l * m + k] = g[l];
      }
    }
    if (o_.check_nondeterminism && runs == 1) {  // the rows ran once: a random upstream twice
      Generator gen(o_.seed ^ kReentrancyStream ^ (static_cast<uint64_t>(j) << 32));
      std::vector<double> u(m);
      for (double& x : u) x = gen.uniform(-1.0, 1.0);
      Values unused;
      vjp(j, u, unused, 2);
    }
  }
  for (int i : ins)
    for (int j : outs) pair(i, j).full_jacobian = true;
  // The numeric VJP of options.vjp_upstreams (full mode only, not fast mode's explanations).
  const bool vjp_wanted = !o_.fast_mode && !o_.vjp_upstreams.empty();
  std::vector<std::vector<double>> upstreams;
  if (vjp_wanted) {
    r_.numeric_vjp.assign(inputs_.size(), Tensor());
    for (const Tensor& v : o_.vjp_upstreams) upstreams.push_back(v.to_vector());
  }
  Column c;  // one column at a time, its vectors reused
  for (int i : ins) {
    const int64_t n = inputs_[static_cast<size_t>(i)].numel();
    if (vjp_wanted) {
      r_.numeric_vjp[static_cast<size_t>(i)] =
          Tensor::full(inputs_[static_cast<size_t>(i)].shape(), kNaN, DType::Float64);
    }
    for (int64_t l = 0; l < n; ++l) {
      if (o_.prefetch && l % kPrefetchPoints == 0) {
        std::vector<std::pair<int, int64_t>> next;
        for (int64_t m = l; m < std::min(n, l + kPrefetchPoints); ++m) next.emplace_back(i, m);
        prefetch_columns(next);
      }
      try {
        column(i, l, c);
      } catch (const Error&) {
        continue;  // reported as a problem by evaluate()
      }
      for (int j : outs) {
        const size_t m = static_cast<size_t>(outs_[static_cast<size_t>(j)].numel());
        const double* a = analytic[static_cast<size_t>(i)][static_cast<size_t>(j)].data() + static_cast<size_t>(l) * m;
        for (size_t k = 0; k < m; ++k) take(entry(i, j, static_cast<int64_t>(k), l, a[k], c));
      }
      if (vjp_wanted) {
        double sum = 0.0;  // Σ_j v_jᵀ · (column l of ∂out_j/∂in_i)
        for (int j : outs) {
          const std::vector<double>& col = c.numeric[static_cast<size_t>(j)];
          const std::vector<double>& v = upstreams[static_cast<size_t>(j)];
          for (size_t k = 0; k < col.size(); ++k) sum += v[k] * col[k];
        }
        r_.numeric_vjp[static_cast<size_t>(i)].data<double>()[l] = sum;
      }
    }
  }
}

void Run::keep(std::vector<EntryReport>& list, double& floor, const EntryReport& e, bool by_jump) {
  const size_t k = static_cast<size_t>(std::max(0, o_.worst_k));
  auto score = [by_jump](const EntryReport& a) { return by_jump ? std::abs(a.right - a.left) : badness(a); };
  if (k == 0 || score(e) <= floor) return;
  list.push_back(e);
  list.back().input_index = unravel(e.input_flat, inputs_[static_cast<size_t>(e.input)].shape());
  list.back().output_index = unravel(e.output_flat, outs_[static_cast<size_t>(e.output)].shape());
  if (list.size() < 4 * k + 8) return;
  std::stable_sort(list.begin(), list.end(), [&](const EntryReport& a, const EntryReport& b) { return score(a) > score(b); });
  list.resize(k);
  floor = score(list.back());
}

void Run::take(const EntryReport& e) {
  PairReport& p = pair(e.input, e.output);
  ++p.checked;
  bool failed = false;
  if (e.nonfinite) {  // not judged by the inequality: counted and listed apart
    ++p.nonfinite;
    ++r_.nonfinite_count;
    if (!(o_.allow_nonfinite && e.nonfinite_agree())) ++r_.nonfinite_failures;
    keep(nonfinite_, nonfinite_floor_, e, false);
    return;
  }
  if (e.kink) {
    ++p.kinks;
    ++r_.kink_count;
    keep(kinks_, kinks_floor_, e, true);
    failed = o_.kinks_fail;
  } else {
    failed = !e.passed();
    if (!failed) keep(worst_, worst_floor_, e, false);
  }
  if (!failed) return;
  ++p.failures;
  ++r_.failure_count;
  keep(failing_, failing_floor_, e, false);
  if (e.numeric == 0.0 || !std::isfinite(e.analytic)) {
    same_ratio_ = false;
  } else if (std::isnan(ratio_)) {
    ratio_ = e.analytic / e.numeric;
  } else if (std::abs(e.analytic / e.numeric - ratio_) > 1e-6 * std::abs(ratio_) + 1e-9) {
    same_ratio_ = false;
  }
}

GradCheckResult Run::go() {
  r_.fast_mode = o_.fast_mode;
  r_.seed = o_.seed;
  r_.eps = o_.eps;
  r_.step = o_.step;
  r_.scheme = o_.scheme;
  r_.estimate_weight = o_.estimate_weight;
  for (const Tensor& x : inputs_) {
    if (!x.defined()) fail(ErrorKind::Value, "gradcheck: an input is undefined");
    r_.input_shapes.push_back(x.shape());
    r_.input_dtypes.push_back(x.dtype());
  }
  if (o_.inputs.empty()) {
    for (size_t i = 0; i < inputs_.size(); ++i) sel_in_.push_back(static_cast<int>(i));
  } else {
    for (int i : o_.inputs) {
      if (i < 0 || static_cast<size_t>(i) >= inputs_.size()) fail(ErrorKind::Value, "gradcheck: input index out of range");
      sel_in_.push_back(i);
    }
  }
  // analytic run: fresh leaves in the inputs' dtype
  for (size_t i = 0; i < inputs_.size(); ++i) {
    Tensor leaf = copy_as(inputs_[i], inputs_[i].dtype());
    if (std::find(sel_in_.begin(), sel_in_.end(), static_cast<int>(i)) != sel_in_.end()) leaf.requires_grad_(true);
    leaves_.push_back(leaf);
  }
  {
    HoldScope scope(hold_, HoldState::Mode::Pass);
    outs_ = f_(leaves_);
  }
  for (const Tensor& y : outs_) r_.output_shapes.push_back(y.shape());
  if (o_.outputs.empty()) {
    for (size_t j = 0; j < outs_.size(); ++j) sel_out_.push_back(static_cast<int>(j));
  } else {
    for (int j : o_.outputs) {
      if (j < 0 || static_cast<size_t>(j) >= outs_.size()) fail(ErrorKind::Value, "gradcheck: output index out of range");
      sel_out_.push_back(j);
    }
  }
  // tolerance: the loosest default over the dtypes the analytic side computes in
  Tolerance tol = gradcheck_tolerance(DType::Float64);
  for (int i : sel_in_) tol = loosest(tol, gradcheck_tolerance(inputs_[static_cast<size_t>(i)].dtype()));
  for (int j : sel_out_) tol = loosest(tol, gradcheck_tolerance(outs_[static_cast<size_t>(j)].dtype()));
  if (o_.atol) tol.atol = *o_.atol;
  if (o_.rtol) tol.rtol = *o_.rtol;
  r_.tolerance = tol;
  if (!o_.vjp_upstreams.empty()) {  // one float64 upstream per output, of its shape
    if (o_.vjp_upstreams.size() != outs_.size())
      fail(ErrorKind::Value, "gradcheck: vjp_upstreams gives " + std::to_string(o_.vjp_upstreams.size()) +
                                 " upstreams for " + std::to_string(outs_.size()) + " outputs");
    for (size_t j = 0; j < outs_.size(); ++j) {
      const Tensor& v = o_.vjp_upstreams[j];
      if (!v.defined() || v.dtype() != DType::Float64 || v.shape() != outs_[j].shape())
        fail(ErrorKind::Shape, "gradcheck: vjp_upstreams[" + std::to_string(j) + "] must be a float64 tensor of shape " +
                                   to_string(outs_[j].shape()));
    }
  }

  // numeric side: float64 copies, the unperturbed run records the held values
  for (const Tensor& x : inputs_) x64_.push_back(copy_as(x, DType::Float64));
  for (const Tensor& x : x64_) shifted_.push_back(x.clone());
  std::vector<Tensor> y64;
  {
    NoGradGuard no_grad;
    HoldScope scope(hold_, HoldState::Mode::Record);
    y64 = f_(x64_);
  }
  if (y64.size() != outs_.size()) fail(ErrorKind::Value, "gradcheck: the function returned a different number of outputs on float64 copies");
  for (size_t j = 0; j < y64.size(); ++j) {
    if (y64[j].shape() != outs_[j].shape()) {
      fail(ErrorKind::Shape, "gradcheck: output " + std::to_string(j) + " is " + to_string(y64[j].shape()) +
                                 " on float64 copies, " + to_string(outs_[j].shape()) + " on the inputs");
    }
    base_.push_back(y64[j].to_vector());
    base_dtypes_.push_back(y64[j].dtype());
  }
  for (int i : sel_in_)
    for (int j : sel_out_) pair(i, j);

  structural_checks();
  if (o_.fast_mode) {
    fast();
  } else {
    full_pairs(sel_in_, sel_out_);
  }

  auto by_badness = [](const EntryReport& a, const EntryReport& b) { return badness(a) > badness(b); };
  std::stable_sort(failing_.begin(), failing_.end(), by_badness);
  std::stable_sort(worst_.begin(), worst_.end(), by_badness);
  std::stable_sort(kinks_.begin(), kinks_.end(), [](const EntryReport& a, const EntryReport& b) {
    return std::abs(a.right - a.left) > std::abs(b.right - b.left);
  });
  const size_t k = static_cast<size_t>(std::max(0, o_.worst_k));
  // the worst list: failing entries first, then the closest passing ones
  std::vector<EntryReport> worst = failing_;
  for (const EntryReport& e : worst_) {
    if (worst.size() >= k) break;
    if (e.passed()) worst.push_back(e);
  }
  if (worst.size() > k) worst.resize(k);
  r_.worst = worst;
  r_.kinks.assign(kinks_.begin(), kinks_.begin() + static_cast<std::ptrdiff_t>(std::min(k, kinks_.size())));
  std::stable_sort(nonfinite_.begin(), nonfinite_.end(), by_badness);
  r_.nonfinite.assign(nonfinite_.begin(), nonfinite_.begin() + static_cast<std::ptrdiff_t>(std::min(k, nonfinite_.size())));
  r_.passed = r_.failure_count == 0 && r_.nonfinite_failures == 0 && r_.problems.empty() && !probe_unexplained_;
  r_.advice = advise();
  return std::move(r_);
}
}  // namespace detail

GradCheckResult GradChecker::check(const Function& f, const std::vector<Tensor>& inputs) const {
  if (options_.order == 2) return gradgradcheck(f, inputs, options_);
  if (options_.order != 1) fail(ErrorKind::Value, "gradcheck: order must be 1 or 2, got " + std::to_string(options_.order));
  GradCheckResult r = detail::Run(options_, f, inputs).go();
  if (!r.passed && options_.raise_exception) throw GradCheckError(r);
  return r;
}

GradCheckError::GradCheckError(GradCheckResult result)
    : std::runtime_error(result.to_string()), result_(std::move(result)) {}

bool EntryReport::nonfinite_agree() const {
  return nonfinite && ((std::isnan(analytic) && std::isnan(numeric)) || (std::isinf(analytic) && analytic == numeric));
}
const char* EntryReport::status() const {
  if (nonfinite) return "nonfinite";
  if (kink) return "kink";
  return passed() ? "pass" : "fail";
}

const char* name(GradCheckStatus s) {
  switch (s) {
    case GradCheckStatus::Passed: return "passed";
    case GradCheckStatus::Failed: return "failed";
    case GradCheckStatus::NonFinite: return "nonfinite";
  }
  return "?";
}

GradCheckStatus GradCheckResult::status() const {
  if (passed) return GradCheckStatus::Passed;
  int failed_probes = 0;
  for (const ProbeReport& p : probes) failed_probes += (!p.passed && !p.nonfinite) ? 1 : 0;
  bool explained = true;  // every failed finite probe's pair got its full Jacobian
  for (const PairReport& p : pairs) explained = explained && (p.probes_passed || p.full_jacobian);
  if (failure_count == 0 && problems.empty() && nonfinite_failures > 0 && (failed_probes == 0 || explained))
    return GradCheckStatus::NonFinite;
  return GradCheckStatus::Failed;
}
}  // namespace gradoracle::oracle
