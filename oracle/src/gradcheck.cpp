#include "gradoracle/oracle/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <ostream>
#include <sstream>

#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/compare.hpp"

namespace gradoracle::oracle {

// ---------------------------------------------------------------------------------------------
// hold(): a detach the checker fixes at the unperturbed float64 run's value.
namespace {
struct HoldState {
  enum class Mode { Pass, Record, Replay } mode = Mode::Pass;
  std::vector<Tensor> values;  // recorded on the unperturbed run, in call order
  size_t next = 0;             // replay cursor
  bool mismatch = false;       // a replay saw more calls or other shapes than the record
};
thread_local HoldState* g_hold = nullptr;

// Installs `state` in `mode` for the scope (restores the previous state on exit).
class HoldScope {
 public:
  HoldScope(HoldState& state, HoldState::Mode mode) : previous_(g_hold) {
    state.mode = mode;
    state.next = 0;
    g_hold = &state;
  }
  ~HoldScope() { g_hold = previous_; }
  HoldScope(const HoldScope&) = delete;
  HoldScope& operator=(const HoldScope&) = delete;

 private:
  HoldState* previous_;
};

Tensor copy_as(const Tensor& t, DType dtype) { return Tensor::from_data(t.shape(), t.to_vector(), dtype); }
}  // namespace

Tensor hold(const Tensor& t) {
  HoldState* s = g_hold;
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


// ---------------------------------------------------------------------------------------------
namespace {
constexpr double kEps64 = std::numeric_limits<double>::epsilon();
constexpr double kRounding = 16.0 * kEps64;  // a float64 function's own rounding: ~16 ε |f|
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) {
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}
nlohmann::json jnum(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}
const char* scheme_name(Scheme s) { return s == Scheme::Central ? "central" : "richardson"; }
const char* step_name(Step s) { return s == Step::Relative ? "relative" : "absolute"; }

// The full-mode inequality, NaN matching NaN only: fills abs/rel error and allowed.
void judge(EntryReport& e, const Tolerance& tol, double k) {
  const double a = e.analytic, n = e.numeric;
  e.nonfinite = !std::isfinite(a) || !std::isfinite(n);
  const double scale = std::max(std::abs(a), std::abs(n));
  e.allowed = tol.atol + tol.rtol * (std::isfinite(scale) ? scale : 0.0) + k * e.estimate;
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
double norm2(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

using Values = std::vector<std::vector<double>>;  // per output, row-major float64

// One numeric column: d outputs / d one input element, for every output element.
struct Column {
  Values numeric, estimate, left, right;
  std::vector<std::vector<char>> kink;
};

class Run {
 public:
  Run(const GradCheckOptions& o, const Function& f, const std::vector<Tensor>& inputs)
      : o_(o), f_(f), inputs_(inputs) {}
  GradCheckResult go();

 private:
  // numeric side (float64)
  Values evaluate(const std::vector<Tensor>& x64);
  Values eval_shift(int i, const std::vector<double>& delta);
  Values eval_element(int i, int64_t l, double step);
  Column column(int i, int64_t l);
  void directional(int i, const std::vector<double>& w, Values& numeric, Values& estimate);
  // analytic side (the inputs' dtype)
  bool vjp(int j, const std::vector<double>& upstream, Values& grads);
  Values one_hot_row(int j, int64_t k);
  // checks
  void structural_checks();
  void full_pairs(const std::vector<int>& ins, const std::vector<int>& outs);
  void fast();
  void take(const EntryReport& e);  // counts one judged entry; keeps it if among the worst
  void keep(std::vector<EntryReport>& list, double& floor, const EntryReport& e, bool by_jump);
  std::string advise() const;
  void problem(const std::string& p) {
    if (std::find(r_.problems.begin(), r_.problems.end(), p) == r_.problems.end()) r_.problems.push_back(p);
  }
  EntryReport entry(int i, int j, int64_t k, int64_t l, double analytic, const Column& c) const;
  PairReport& pair(int i, int j);

  const GradCheckOptions& o_;
  const Function& f_;
  const std::vector<Tensor>& inputs_;
  GradCheckResult r_;
  std::vector<int> sel_in_, sel_out_;
  std::vector<Tensor> leaves_, outs_;  // the analytic run
  std::vector<Tensor> x64_;            // float64 copies of the inputs
  std::vector<Tensor> shifted_;        // the perturbed runs' arguments: x64_'s values, one input shifted in place
  Values base_;                        // the unperturbed float64 outputs
  std::vector<DType> base_dtypes_;
  HoldState hold_;
  std::vector<EntryReport> failing_, kinks_, worst_, nonfinite_;  // the worst few of each (bounded)
  double failing_floor_ = -1, kinks_floor_ = -1, worst_floor_ = -1, nonfinite_floor_ = -1;  // below these, an entry cannot make the list
  // Whether every failing entry has analytic = ratio·numeric (a wrong factor), tracked over all.
  double ratio_ = kNaN;
  bool same_ratio_ = true;
  bool probe_unexplained_ = false;
  std::vector<std::string> notes_;  // observations that are not failures, appended to the advice
};

PairReport& Run::pair(int i, int j) {
  for (PairReport& p : r_.pairs)
    if (p.input == i && p.output == j) return p;
  PairReport p;
  p.input = i;
  p.output = j;
  p.input_shape = inputs_[static_cast<size_t>(i)].shape();
  p.output_shape = outs_[static_cast<size_t>(j)].shape();
  r_.pairs.push_back(p);
  return r_.pairs.back();
}

Values Run::evaluate(const std::vector<Tensor>& x64) {
  NoGradGuard no_grad;
  std::vector<Tensor> y;
  {
    HoldScope scope(hold_, HoldState::Mode::Replay);
    y = f_(x64);
    if (hold_.next != hold_.values.size()) hold_.mismatch = true;
  }
  if (hold_.mismatch) {
    problem("hold() was called a different number of times, or on other shapes, on a perturbed run than on the "
            "unperturbed one: the function's control flow depends on the input values");
  }
  if (y.size() != outs_.size()) {
    problem("the function returned " + std::to_string(y.size()) + " outputs under perturbation, " +
            std::to_string(outs_.size()) + " unperturbed");
    throw Error(ErrorKind::Shape, "unstable output count");
  }
  Values out(y.size());
  for (size_t j = 0; j < y.size(); ++j) {
    const bool same_shape = y[j].shape() == outs_[j].shape();
    if (o_.check_output_stability && (!same_shape || y[j].dtype() != base_dtypes_[j])) {
      problem("output " + std::to_string(j) + " changed under perturbation: " + to_string(y[j].shape()) + " " +
              name(y[j].dtype()) + ", unperturbed " + to_string(outs_[j].shape()) + " " + name(base_dtypes_[j]));
    }
    if (!same_shape) throw Error(ErrorKind::Shape, "unstable output shape");
    out[j] = y[j].to_vector();
  }
  return out;
}

// f at x64_ with input i shifted by delta. As torch's gradcheck does, the arguments are
// perturbed in place (shifted_, restored on return or throw): no copy of the inputs per run.
Values Run::eval_shift(int i, const std::vector<double>& delta) {
  const size_t I = static_cast<size_t>(i);
  double* shifted = shifted_[I].data<double>();
  const double* x = x64_[I].data<double>();
  const size_t n = static_cast<size_t>(x64_[I].numel());
  for (size_t l = 0; l < n; ++l) shifted[l] = x[l] + delta[l];
  struct Restore {
    double* to;
    const double* from;
    size_t n;
    ~Restore() { std::copy(from, from + n, to); }
  } restore{shifted, x, n};
  return evaluate(shifted_);
}

// f at x64_ with element l of input i shifted by `step` (in place, restored on return or throw).
Values Run::eval_element(int i, int64_t l, double step) {
  const size_t I = static_cast<size_t>(i);
  double* at = shifted_[I].data<double>() + l;
  const double x = x64_[I].data<double>()[l];
  *at = x + step;
  struct Restore {
    double* at;
    double x;
    ~Restore() { *at = x; }
  } restore{at, x};
  return evaluate(shifted_);
}

// Column l of input i. Central: D(h) = (f(x+h) − f(x−h))/2h, estimate 16ε(|f₊|+|f₋|)/2h.
// Richardson: R = (4·D(h/2) − D(h))/3, estimate |R − D(h/2)| + rounding at h/2.
// Kinks: right = (f(x+h) − f(x))/h, left = (f(x) − f(x−h))/h. For a smooth f, right − left ≈ h·f'';
// when it exceeds the tolerance, the step is cut to h/16: a kink keeps its jump (> 1/4 of it
// remains), a smooth f shrinks it 16-fold and the entry takes the finer D(h/16).
Column Run::column(int i, int64_t l) {
  const double xl = x64_[static_cast<size_t>(i)].data<double>()[l];
  const double h0 = o_.eps * (o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0);
  auto at = [&](double h, Values& plus, Values& minus, double& hp, double& hm) {
    hp = (xl + h) - xl;  // the steps as taken in floating point
    hm = xl - (xl - h);
    plus = eval_element(i, l, hp);
    minus = eval_element(i, l, -hm);
  };
  Values fp, fm, fp2, fm2;
  double hp = 0, hm = 0, hp2 = 0, hm2 = 0;
  at(h0, fp, fm, hp, hm);
  if (o_.scheme == Scheme::Richardson) at(h0 / 2, fp2, fm2, hp2, hm2);

  Column c;
  const size_t nout = outs_.size();
  c.numeric.resize(nout);
  c.estimate.resize(nout);
  c.left.resize(nout);
  c.right.resize(nout);
  c.kink.resize(nout);
  bool suspicious_any = false;
  std::vector<std::vector<char>> suspicious(nout);
  for (int j : sel_out_) {
    const size_t J = static_cast<size_t>(j);
    const size_t m = base_[J].size();
    c.numeric[J].resize(m);
    c.estimate[J].resize(m);
    c.left[J].resize(m);
    c.right[J].resize(m);
    c.kink[J].assign(m, 0);
    suspicious[J].assign(m, 0);
    for (size_t k = 0; k < m; ++k) {
      const double d1 = (fp[J][k] - fm[J][k]) / (hp + hm);
      const double round1 = kRounding * (std::abs(fp[J][k]) + std::abs(fm[J][k])) / (hp + hm);
      if (o_.scheme == Scheme::Richardson) {
        const double d2 = (fp2[J][k] - fm2[J][k]) / (hp2 + hm2);
        const double round2 = kRounding * (std::abs(fp2[J][k]) + std::abs(fm2[J][k])) / (hp2 + hm2);
        const double rich = (4.0 * d2 - d1) / 3.0;
        c.numeric[J][k] = rich;
        c.estimate[J][k] = std::abs(rich - d2) + 2.0 * round2;
      } else {
        c.numeric[J][k] = d1;
        c.estimate[J][k] = round1;
      }
      const double f0 = base_[J][k];
      c.right[J][k] = (fp[J][k] - f0) / hp;
      c.left[J][k] = (f0 - fm[J][k]) / hm;
      if (o_.detect_kinks) {
        const double jump = std::abs(c.right[J][k] - c.left[J][k]);
        const double tol = r_.tolerance.atol + r_.tolerance.rtol * std::max(std::abs(c.right[J][k]), std::abs(c.left[J][k])) +
                           4.0 * kRounding * (std::abs(f0) + std::abs(fp[J][k]) + std::abs(fm[J][k])) / hp;
        if (jump > tol) {
          suspicious[J][k] = 1;
          suspicious_any = true;
        }
      }
    }
  }
  if (!suspicious_any) return c;
  Values fpf, fmf;
  double hpf = 0, hmf = 0;
  at(h0 / 16, fpf, fmf, hpf, hmf);
  for (int j : sel_out_) {
    const size_t J = static_cast<size_t>(j);
    for (size_t k = 0; k < base_[J].size(); ++k) {
      if (!suspicious[J][k]) continue;
      const double f0 = base_[J][k];
      const double right = (fpf[J][k] - f0) / hpf, left = (f0 - fmf[J][k]) / hmf;
      const double jump = std::abs(c.right[J][k] - c.left[J][k]);
      if (std::abs(right - left) > 0.25 * jump) {
        c.kink[J][k] = 1;
      } else {
        // Smooth but curved: the finer central difference, whose truncation error is ~1/255 of
        // the change from D(h) (error ∝ h²), plus its rounding.
        const double dfine = (fpf[J][k] - fmf[J][k]) / (hpf + hmf);
        const double d1 = (fp[J][k] - fm[J][k]) / (hp + hm);
        c.numeric[J][k] = dfine;
        c.estimate[J][k] = std::abs(d1 - dfine) / 255.0 +
                           kRounding * (std::abs(fpf[J][k]) + std::abs(fmf[J][k])) / (hpf + hmf);
      }
    }
  }
  return c;
}

// Directional derivative along w (already scaled by the step's per-element scale), per output element.
void Run::directional(int i, const std::vector<double>& w, Values& numeric, Values& estimate) {
  auto diff = [&](double eps, Values& d, Values& round) {
    std::vector<double> delta(w.size());
    for (size_t l = 0; l < w.size(); ++l) delta[l] = eps * w[l];
    const Values plus = eval_shift(i, delta);
    for (double& x : delta) x = -x;
    const Values minus = eval_shift(i, delta);
    d.assign(plus.size(), {});
    round.assign(plus.size(), {});
    for (size_t j = 0; j < plus.size(); ++j) {
      d[j].resize(plus[j].size());
      round[j].resize(plus[j].size());
      for (size_t k = 0; k < plus[j].size(); ++k) {
        d[j][k] = (plus[j][k] - minus[j][k]) / (2 * eps);
        round[j][k] = kRounding * (std::abs(plus[j][k]) + std::abs(minus[j][k])) / (2 * eps);
      }
    }
  };
  Values r1;
  diff(o_.eps, numeric, r1);
  estimate = r1;
  if (o_.scheme != Scheme::Richardson) return;
  Values d2, r2;
  diff(o_.eps / 2, d2, r2);
  for (size_t j = 0; j < numeric.size(); ++j) {
    for (size_t k = 0; k < numeric[j].size(); ++k) {
      const double rich = (4.0 * d2[j][k] - numeric[j][k]) / 3.0;
      estimate[j][k] = std::abs(rich - d2[j][k]) + 2.0 * r2[j][k];
      numeric[j][k] = rich;
    }
  }
}

// grads[i] = (upstream on output j)ᵀ·J_ij for every selected input i (zeros for an absent grad;
// NaN if backward raised). With check_nondeterminism, backward runs twice and must agree.
bool Run::vjp(int j, const std::vector<double>& upstream, Values& grads) {
  const Tensor& out = outs_[static_cast<size_t>(j)];
  grads.assign(inputs_.size(), {});
  for (int i : sel_in_) grads[static_cast<size_t>(i)].assign(static_cast<size_t>(inputs_[static_cast<size_t>(i)].numel()), 0.0);
  if (!out.requires_grad()) return true;  // a constant output: its Jacobian is zero
  const Tensor g = Tensor::from_data(out.shape(), upstream, out.dtype());
  const int runs = o_.check_nondeterminism ? 2 : 1;
  for (int run = 0; run < runs; ++run) {
    for (int i : sel_in_) leaves_[static_cast<size_t>(i)].set_grad(Tensor());
    try {
      out.backward(g, /*retain_graph=*/true);
    } catch (const std::exception& e) {
      problem("backward of output " + std::to_string(j) + " raised: " + e.what());
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

Values Run::one_hot_row(int j, int64_t k) {
  std::vector<double> up(static_cast<size_t>(outs_[static_cast<size_t>(j)].numel()), 0.0);
  up[static_cast<size_t>(k)] = 1.0;
  Values g;
  vjp(j, up, g);
  return g;
}

EntryReport Run::entry(int i, int j, int64_t k, int64_t l, double analytic, const Column& c) const {
  const size_t J = static_cast<size_t>(j), K = static_cast<size_t>(k);
  EntryReport e;
  e.input = i;
  e.output = j;
  e.input_flat = l;  // multi-indices are filled in only for the entries a report keeps
  e.output_flat = k;
  e.analytic = analytic;
  e.numeric = c.numeric[J][K];
  e.estimate = c.estimate[J][K];
  e.kink = c.kink[J][K] != 0;
  e.left = c.left[J][K];
  e.right = c.right[J][K];
  judge(e, r_.tolerance, o_.estimate_weight);
  return e;
}

void Run::structural_checks() {
  if (!o_.check_undefined_grad) return;
  for (int j : sel_out_) {
    Values g;
    if (!vjp(j, std::vector<double>(static_cast<size_t>(outs_[static_cast<size_t>(j)].numel()), 0.0), g)) continue;
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
    for (size_t k = 0; k < m; ++k) {
      const Values row = one_hot_row(j, static_cast<int64_t>(k));
      for (int i : ins) {
        const std::vector<double>& g = row[static_cast<size_t>(i)];
        std::vector<double>& a = analytic[static_cast<size_t>(i)][J];
        for (size_t l = 0; l < g.size(); ++l) a[l * m + k] = g[l];
      }
    }
  }
  for (int i : ins)
    for (int j : outs) pair(i, j).full_jacobian = true;
  for (int i : ins) {
    const int64_t n = inputs_[static_cast<size_t>(i)].numel();
    for (int64_t l = 0; l < n; ++l) {
      Column c;
      try {
        c = column(i, l);
      } catch (const Error&) {
        continue;  // reported as a problem by evaluate()
      }
      for (int j : outs) {
        const size_t m = static_cast<size_t>(outs_[static_cast<size_t>(j)].numel());
        const double* a = analytic[static_cast<size_t>(i)][static_cast<size_t>(j)].data() + static_cast<size_t>(l) * m;
        for (size_t k = 0; k < m; ++k) take(entry(i, j, static_cast<int64_t>(k), l, a[k], c));
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

// Fast mode: q probes vᵀJu per pair, spot checks, and the full Jacobian of a failing pair.
void Run::fast() {
  Generator gen(o_.seed);
  std::vector<std::vector<char>> pair_failed(inputs_.size(), std::vector<char>(outs_.size(), 0));
  for (int p = 0; p < std::max(1, o_.probes); ++p) {
    std::vector<std::vector<double>> w(inputs_.size()), v(outs_.size());
    for (int i : sel_in_) {
      const std::vector<double> x = x64_[static_cast<size_t>(i)].to_vector();
      for (double xl : x) {
        const double scale = o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0;
        w[static_cast<size_t>(i)].push_back(gen.normal() * scale);
      }
    }
    for (int j : sel_out_) {
      for (int64_t k = 0; k < outs_[static_cast<size_t>(j)].numel(); ++k) {
        double vk = gen.normal();
        if (outs_[static_cast<size_t>(j)].dtype() == DType::Float32) vk = static_cast<double>(static_cast<float>(vk));
        v[static_cast<size_t>(j)].push_back(vk);
      }
    }
    // analytic: one backward per output gives gᵢ = Jᵢⱼᵀv for every input
    std::vector<Values> g(outs_.size());
    for (int j : sel_out_) vjp(j, v[static_cast<size_t>(j)], g[static_cast<size_t>(j)]);
    for (int i : sel_in_) {
      const size_t I = static_cast<size_t>(i);
      Values d, est;
      try {
        directional(i, w[I], d, est);
      } catch (const Error&) {
        for (int j : sel_out_) pair_failed[I][static_cast<size_t>(j)] = 1;
        continue;
      }
      const double wn = norm2(w[I]);
      const double sqrt_n = std::sqrt(static_cast<double>(std::max<size_t>(1, w[I].size())));
      for (int j : sel_out_) {
        const size_t J = static_cast<size_t>(j);
        ProbeReport pr;
        pr.input = i;
        pr.output = j;
        pr.probe = p;
        const std::vector<double>& gi = g[J][I];
        double a = 0.0, n = 0.0, e = 0.0;
        for (size_t l = 0; l < gi.size(); ++l) a += gi[l] * w[I][l];
        for (size_t k = 0; k < v[J].size(); ++k) {
          n += v[J][k] * d[J][k];
          e += std::abs(v[J][k]) * est[J][k];
        }
        pr.analytic = a;
        pr.numeric = n;
        pr.nonfinite = !std::isfinite(a) || !std::isfinite(n);
        pr.abs_error = std::isnan(a) != std::isnan(n) ? kInf : (std::isnan(a) ? 0.0 : std::abs(a - n));
        pr.allowed = r_.tolerance.atol * wn * norm2(v[J]) + r_.tolerance.rtol * norm2(gi) * wn / sqrt_n +
                     o_.estimate_weight * e;
        pr.passed = !pr.nonfinite && pr.abs_error <= pr.allowed;
        if (!pr.passed) {
          pair_failed[I][J] = 1;
          pair(i, j).probes_passed = false;
        }
        r_.probes.push_back(pr);
      }
    }
  }
  // spot checks: random single entries under the full-mode inequality
  std::vector<EntryReport> spots;
  for (int i : sel_in_) {
    for (int j : sel_out_) {
      const int64_t n = inputs_[static_cast<size_t>(i)].numel(), m = outs_[static_cast<size_t>(j)].numel();
      if (n == 0 || m == 0) continue;
      for (int s = 0; s < o_.spot_checks; ++s) {
        const int64_t l = gen.integer(0, n - 1), k = gen.integer(0, m - 1);
        const Values row = one_hot_row(j, k);
        Column c;
        try {
          c = column(i, l);
        } catch (const Error&) {
          pair_failed[static_cast<size_t>(i)][static_cast<size_t>(j)] = 1;
          continue;
        }
        EntryReport e = entry(i, j, k, l, row[static_cast<size_t>(i)][static_cast<size_t>(l)], c);
        if (!e.passed() && !e.kink) pair_failed[static_cast<size_t>(i)][static_cast<size_t>(j)] = 1;
        spots.push_back(e);
      }
    }
  }
  for (int i : sel_in_) {
    for (int j : sel_out_) {
      PairReport& p = pair(i, j);
      if (pair_failed[static_cast<size_t>(i)][static_cast<size_t>(j)] && o_.explain_fast_failures) {
        full_pairs({i}, {j});
        PairReport& q = pair(i, j);
        if (q.failures == 0 && q.nonfinite == 0 && !q.probes_passed) {  // the entries are authoritative: a note, not a failure
          notes_.push_back("a probe of input " + std::to_string(i) + " / output " + std::to_string(j) +
                           " exceeded its tolerance but every entry of the full Jacobian passes (an error spread "
                           "below the per-entry tolerance: tighten rtol to see it entrywise)");
        }
      } else {
        for (const EntryReport& e : spots)
          if (e.input == i && e.output == j) take(e);
        if (!p.probes_passed) probe_unexplained_ = true;
      }
    }
  }
}

std::string Run::advise() const {
  std::vector<std::string> tips;
  if (!failing_.empty()) {
    const EntryReport& w = failing_.front();
    if (std::abs(w.analytic + w.numeric) <= w.allowed && std::abs(w.numeric) > w.allowed) {
      tips.push_back("analytic = -numeric: a sign flip in backward");
    } else if (w.analytic == 0.0) {
      tips.push_back("analytic gradient is 0 where the numeric one is not: backward does not reach this element "
                     "(a dropped accumulation, a missing record, an unintended detach?)");
    }
    if (same_ratio_ && r_.failure_count > 1 && std::isfinite(ratio_) && ratio_ != 0.0) {
      tips.push_back("analytic = " + num(ratio_) + " x numeric on every failing entry: a wrong factor (a mean "
                     "where a sum belongs, a broadcast reduction over the wrong dims, a dropped term)");
    }
    if (r_.failure_count == 1) {
      tips.push_back("a single wrong entry: an indexing error (a missing transpose on a square shape, an off-by-one)");
    }
    if (w.rel_error < 1e-2) {
      bool any32 = false;
      for (DType d : r_.input_dtypes) any32 = any32 || d == DType::Float32;
      tips.push_back(any32 ? "small relative error (" + num(w.rel_error) +
                                 "): recheck in float64, or loosen rtol if float32 rounding explains it"
                           : "small relative error (" + num(w.rel_error) +
                                 ") in float64: backward is slightly wrong (an approximation, a stale saved value?)");
    }
    if (w.estimate > 0.1 * w.allowed) {
      tips.push_back("the numeric side is noisy here (estimate " + num(w.estimate) +
                     "): try Scheme::Richardson, a larger eps, or Step::Relative");
    }
  }
  if (!nonfinite_.empty()) {
    const EntryReport& w = nonfinite_.front();
    const bool a_ok = std::isfinite(w.analytic), n_ok = std::isfinite(w.numeric);
    std::string tip = std::to_string(r_.nonfinite_count) + " entries have a NaN/Inf side (first: analytic " +
                      num(w.analytic) + ", numeric " + num(w.numeric) + "): ";
    if (a_ok && !n_ok)
      tip += "the function is not finite near this input (outside its domain, at a pole, or overflowing under "
             "the step); draw inputs inside the op's Domain or try a smaller eps";
    else if (!a_ok && n_ok)
      tip += "backward produced a non-finite gradient where finite differences are finite (0*inf in a chain "
             "rule, a division by a saved zero, an overflow in the input dtype)";
    else
      tip += "both sides are non-finite: the function itself is NaN/Inf here, nothing can be verified" +
             std::string(o_.allow_nonfinite ? "" : " (allow_nonfinite accepts entries whose sides agree)");
    tips.push_back(tip);
  }
  if (r_.kink_count > 0) {
    tips.push_back(std::to_string(r_.kink_count) +
                   " entries sit at non-differentiable points (one-sided differences disagree): draw the inputs "
                   "away from kinks (Domain::AwayFromKink)");
  }
  if (r_.fast_mode && (!failing_.empty() || probe_unexplained_)) {
    tips.push_back("replay with seed " + std::to_string(r_.seed) + ", or run full mode to list every wrong entry");
  }
  if (!r_.problems.empty() && tips.empty()) tips.push_back("see the problems above");
  tips.insert(tips.end(), notes_.begin(), notes_.end());
  std::string s;
  for (const std::string& t : tips) s += (s.empty() ? "" : "; ") + t;
  return s;
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
}  // namespace

GradCheckResult GradChecker::check(const Function& f, const std::vector<Tensor>& inputs) const {
  GradCheckResult r = Run(options_, f, inputs).go();
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

// ---------------------------------------------------------------------------------------------
// Reports

namespace {
std::string entry_line(const EntryReport& e) {
  std::ostringstream os;
  os << "d out" << e.output << index_string(e.output_index) << " / d in" << e.input << index_string(e.input_index)
     << ": analytic " << num(e.analytic) << ", numeric " << num(e.numeric);
  if (e.nonfinite) {
    os << "  NON-FINITE" << (e.nonfinite_agree() ? " (both sides)" : "");
  } else if (e.kink) {
    os << " (kink: left " << num(e.left) << ", right " << num(e.right) << ")";
  } else {
    os << ", abs err " << num(e.abs_error) << ", rel err " << num(e.rel_error) << ", estimate " << num(e.estimate)
       << ", allowed " << num(e.allowed) << (e.passed() ? "" : "  FAIL");
  }
  return os.str();
}
nlohmann::json entry_json(const EntryReport& e) {
  return nlohmann::json{{"input", e.input},         {"output", e.output},         {"input_index", e.input_index},
                        {"output_index", e.output_index}, {"analytic", jnum(e.analytic)}, {"numeric", jnum(e.numeric)},
                        {"abs_error", jnum(e.abs_error)}, {"rel_error", jnum(e.rel_error)},
                        {"estimate", jnum(e.estimate)},   {"allowed", jnum(e.allowed)},   {"kink", e.kink},
                        {"left", jnum(e.left)},           {"right", jnum(e.right)},       {"passed", e.passed()},
                        {"nonfinite", e.nonfinite},       {"status", e.status()}};
}
}  // namespace

std::ostream& operator<<(std::ostream& os, const EntryReport& e) { return os << entry_line(e); }

std::string GradCheckResult::to_string() const {
  std::ostringstream os;
  const GradCheckStatus st = status();
  os << "gradcheck " << (st == GradCheckStatus::Passed ? "passed" : st == GradCheckStatus::NonFinite ? "FAILED: non-finite" : "FAILED")
     << " (" << (fast_mode ? "fast" : "full") << " mode, "
     << scheme_name(scheme) << " differences, " << step_name(step) << " eps " << num(eps) << ", atol "
     << num(tolerance.atol) << ", rtol " << num(tolerance.rtol) << ", k " << num(estimate_weight);
  if (fast_mode) os << ", seed " << seed;
  os << ")\n  pass: |a - n| <= atol + rtol*max(|a|, |n|) + k*estimate\n  inputs:";
  for (size_t i = 0; i < input_shapes.size(); ++i) {
    os << (i ? ", " : " ") << i << ": " << gradoracle::to_string(input_shapes[i]) << " " << name(input_dtypes[i]);
  }
  os << "; outputs:";
  for (size_t j = 0; j < output_shapes.size(); ++j) os << (j ? ", " : " ") << j << ": " << gradoracle::to_string(output_shapes[j]);
  os << "\n";
  int64_t checked = 0;
  for (const PairReport& p : pairs) checked += p.checked;
  os << "  " << failure_count << " failing of " << checked << " entries checked";
  if (kink_count) os << ", " << kink_count << " at kinks";
  if (nonfinite_count) os << ", " << nonfinite_count << " non-finite (NaN/Inf on a side, not judged; " << nonfinite_failures << " failing)";
  os << "\n";
  if (!worst.empty() && !worst.front().passed()) os << "  worst: " << entry_line(worst.front()) << "\n";
  if (!worst.empty()) {
    os << "  worst " << worst.size() << ":\n";
    for (const EntryReport& e : worst) os << "    " << entry_line(e) << "\n";
  }
  if (!kinks.empty()) {
    os << "  kinks:\n";
    for (const EntryReport& e : kinks) os << "    " << entry_line(e) << "\n";
  }
  if (!nonfinite.empty()) {
    os << "  non-finite " << nonfinite.size() << " of " << nonfinite_count << ":\n";
    for (const EntryReport& e : nonfinite) os << "    " << entry_line(e) << "\n";
  }
  int failed_probes = 0;
  for (const ProbeReport& p : probes) failed_probes += p.passed ? 0 : 1;
  if (fast_mode) {
    os << "  probes: " << probes.size() - static_cast<size_t>(failed_probes) << " of " << probes.size() << " passed\n";
    for (const ProbeReport& p : probes) {
      if (p.passed) continue;
      os << "    probe " << p.probe << " in" << p.input << "/out" << p.output << ": v'Ju analytic " << num(p.analytic)
         << ", numeric " << num(p.numeric) << ", abs err " << num(p.abs_error) << ", allowed " << num(p.allowed)
         << (p.nonfinite ? "  NON-FINITE" : "") << "\n";
    }
  }
  for (const std::string& p : problems) os << "  problem: " << p << "\n";
  if (!advice.empty()) os << "  try: " << advice << "\n";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const GradCheckResult& r) { return os << r.to_string(); }

nlohmann::json GradCheckResult::to_json() const {
  nlohmann::json j;
  j["passed"] = passed;
  j["status"] = name(status());
  j["mode"] = fast_mode ? "fast" : "full";
  j["seed"] = seed;
  j["eps"] = eps;
  j["step"] = step_name(step);
  j["scheme"] = scheme_name(scheme);
  j["atol"] = tolerance.atol;
  j["rtol"] = tolerance.rtol;
  j["estimate_weight"] = estimate_weight;
  j["input_shapes"] = input_shapes;
  std::vector<std::string> dtypes;
  for (DType d : input_dtypes) dtypes.push_back(name(d));
  j["input_dtypes"] = dtypes;
  j["output_shapes"] = output_shapes;
  j["failure_count"] = failure_count;
  j["kink_count"] = kink_count;
  j["nonfinite_count"] = nonfinite_count;
  j["nonfinite_failures"] = nonfinite_failures;
  j["pairs"] = nlohmann::json::array();
  for (const PairReport& p : pairs) {
    j["pairs"].push_back({{"input", p.input},
                          {"output", p.output},
                          {"input_shape", p.input_shape},
                          {"output_shape", p.output_shape},
                          {"checked", p.checked},
                          {"failures", p.failures},
                          {"kinks", p.kinks},
                          {"nonfinite", p.nonfinite},
                          {"probes_passed", p.probes_passed},
                          {"full_jacobian", p.full_jacobian}});
  }
  j["worst"] = nlohmann::json::array();
  for (const EntryReport& e : worst) j["worst"].push_back(entry_json(e));
  j["kinks"] = nlohmann::json::array();
  for (const EntryReport& e : kinks) j["kinks"].push_back(entry_json(e));
  j["nonfinite"] = nlohmann::json::array();
  for (const EntryReport& e : nonfinite) j["nonfinite"].push_back(entry_json(e));
  j["probes"] = nlohmann::json::array();
  for (const ProbeReport& p : probes) {
    j["probes"].push_back({{"input", p.input},
                           {"output", p.output},
                           {"probe", p.probe},
                           {"analytic", jnum(p.analytic)},
                           {"numeric", jnum(p.numeric)},
                           {"abs_error", jnum(p.abs_error)},
                           {"allowed", jnum(p.allowed)},
                           {"passed", p.passed},
                           {"nonfinite", p.nonfinite}});
  }
  j["problems"] = problems;
  j["advice"] = advice;
  return j;
}

}  // namespace gradoracle::oracle
