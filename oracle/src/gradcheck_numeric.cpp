// The checker's numeric side: f on float64 copies of the inputs, perturbed in place; central
// differences and the Richardson scheme with their error estimates; one-sided differences for
// kinks; directional derivatives for fast mode.
#include <algorithm>
#include <cmath>

#include "gradcheck_run.hpp"

namespace gradoracle::oracle::detail {

void Run::evaluate(const std::vector<Tensor>& x64, Values& out) {
  NoGradGuard no_grad;
  std::vector<Tensor> y;
  {
    HoldScope scope(hold_, HoldState::Mode::Replay);
    try {
      y = f_(x64);
    } catch (const Error& e) {  // the column is not judged: say so, never a silent skip
      problem(std::string("the function raised at a perturbed point (its entries there are not checked): ") + e.what());
      throw;
    }
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
  out.resize(y.size());
  for (size_t j = 0; j < y.size(); ++j) {
    const bool same_shape = y[j].shape() == outs_[j].shape();
    if (o_.check_output_stability && (!same_shape || y[j].dtype() != base_dtypes_[j])) {
      problem("output " + std::to_string(j) + " changed under perturbation: " + to_string(y[j].shape()) + " " +
              name(y[j].dtype()) + ", unperturbed " + to_string(outs_[j].shape()) + " " + name(base_dtypes_[j]));
    }
    if (!same_shape) throw Error(ErrorKind::Shape, "unstable output shape");
    if (y[j].dtype() == DType::Float64) {
      const double* p = y[j].data<double>();
      out[j].assign(p, p + y[j].numel());
    } else {
      out[j] = y[j].to_vector();
    }
  }
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
  Values out;
  evaluate(shifted_, out);
  return out;
}

// f at x64_ with element l of input i shifted by `step` (in place, restored on return or throw).
void Run::eval_element(int i, int64_t l, double step, Values& out) {
  const size_t I = static_cast<size_t>(i);
  double* at = shifted_[I].data<double>() + l;
  const double x = x64_[I].data<double>()[l];
  *at = x + step;
  struct Restore {
    double* at;
    double x;
    ~Restore() { *at = x; }
  } restore{at, x};
  evaluate(shifted_, out);
}

// Column l of input i. Central: D(h) = (f(x+h) − f(x−h))/2h, estimate 16ε(|f₊|+|f₋|)/2h.
// Richardson: R = (4·D(h/2) − D(h))/3, estimate |R − D(h/2)| + rounding at h/2.
// Kinks: right = (f(x+h) − f(x))/h, left = (f(x) − f(x−h))/h. For a smooth f, right − left ≈ h·f'';
// when it exceeds the tolerance, the step is cut to h/16: a kink keeps its jump (> 1/4 of it
// remains), a smooth f shrinks it 16-fold and the entry takes the finer D(h/16). A kink between
// h/16 and h moves one one-sided slope only: where h/16 still straddles it, a kink; where it does
// not, the finer D(h/16) is clean in float64, but a float32 forward's rounding can reach the kink
// (Column::kink 2, which excuses only a failing float32 entry).
void Run::column(int i, int64_t l, Column& c) {
  const double xl = x64_[static_cast<size_t>(i)].data<double>()[l];
  const double h0 = o_.eps * (o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0);
  auto at = [&](double h, Values& plus, Values& minus, double& hp, double& hm) {
    hp = (xl + h) - xl;  // the steps as taken in floating point
    hm = xl - (xl - h);
    eval_element(i, l, hp, plus);
    eval_element(i, l, -hm, minus);
  };
  Values &fp = fp_, &fm = fm_, &fp2 = fp2_, &fm2 = fm2_;
  double hp = 0, hm = 0, hp2 = 0, hm2 = 0;
  at(h0, fp, fm, hp, hm);
  if (o_.scheme == Scheme::Richardson) at(h0 / 2, fp2, fm2, hp2, hm2);

  const size_t nout = outs_.size();
  c.numeric.resize(nout);
  c.estimate.resize(nout);
  c.left.resize(nout);
  c.right.resize(nout);
  c.kink.resize(nout);
  bool suspicious_any = false;
  std::vector<std::vector<char>>& suspicious = suspicious_;
  suspicious.resize(nout);
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
        // The one-sided slopes disagree by more than rule 2 allows two estimates of one value,
        // beyond the rounding of the three evaluations.
        const double tol = entry_allowance(r_.tolerance, c.right[J][k], c.left[J][k],
                                           4.0 * kRounding * (std::abs(f0) + std::abs(fp[J][k]) + std::abs(fm[J][k])) / hp);
        if (jump > tol) {
          suspicious[J][k] = 1;
          suspicious_any = true;
        }
      }
    }
  }
  if (!suspicious_any) return;
  Values &fpf = fpf_, &fmf = fmf_;
  double hpf = 0, hmf = 0;
  at(h0 / 16, fpf, fmf, hpf, hmf);
  for (int j : sel_out_) {
    const size_t J = static_cast<size_t>(j);
    for (size_t k = 0; k < base_[J].size(); ++k) {
      if (!suspicious[J][k]) continue;
      const double f0 = base_[J][k];
      const double right = (fpf[J][k] - f0) / hpf, left = (f0 - fmf[J][k]) / hmf;
      const double jump = std::abs(c.right[J][k] - c.left[J][k]);
      // A smooth f's one-sided slopes both move by ~h·f''/2 from h to h/16; a kink between h/16
      // and h moves only the slope on its side.
      const double moved_right = std::abs(c.right[J][k] - right), moved_left = std::abs(c.left[J][k] - left);
      const bool one_sided = std::min(moved_right, moved_left) < 0.25 * std::max(moved_right, moved_left);
      const double fine_tol = entry_allowance(r_.tolerance, right, left,
                                              4.0 * kRounding * (std::abs(f0) + std::abs(fpf[J][k]) + std::abs(fmf[J][k])) / hpf);
      if (std::abs(right - left) > 0.25 * jump || (one_sided && std::abs(right - left) > fine_tol)) {
        c.kink[J][k] = 1;  // a kink h/16 still reaches: finite differences straddle it
      } else {
        if (one_sided) c.kink[J][k] = 2;  // a kink past h/16: the finer difference is clean
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
}

// The points column(i, l) evaluates f at first, for each (i, l) of `columns`: x ± the step as
// taken in floating point (its `at`), and the half steps under Richardson; handed to options'
// prefetch in calls of at most kPrefetchPoints points.
void Run::prefetch_columns(const std::vector<std::pair<int, int64_t>>& columns) {
  std::vector<std::vector<Tensor>> points;
  auto flush = [&] {
    if (!points.empty()) o_.prefetch(points);
    points.clear();
  };
  for (const auto& [i, l] : columns) {
    const size_t I = static_cast<size_t>(i);
    auto add = [&](double value) {
      std::vector<Tensor> point = x64_;
      point[I] = x64_[I].clone();
      point[I].data<double>()[l] = value;
      points.push_back(std::move(point));
      if (points.size() >= static_cast<size_t>(kPrefetchPoints)) flush();
    };
    const double xl = x64_[I].data<double>()[l];
    const double h0 = o_.eps * (o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0);
    for (double h : {h0, h0 / 2}) {
      add(xl + ((xl + h) - xl));
      add(xl + -(xl - (xl - h)));
      if (o_.scheme != Scheme::Richardson) break;
    }
  }
  flush();
}

// The points directional(i, w[i]) evaluates f at, for every selected input i, as eval_shift
// forms them (x + δ and x + (−δ), δ = eps·w, and the half step under Richardson); handed to
// options' prefetch in calls of at most kPrefetchPoints points.
void Run::prefetch_directions(const std::vector<std::vector<double>>& w) {
  std::vector<std::vector<Tensor>> points;
  for (int i : sel_in_) {
    const size_t I = static_cast<size_t>(i);
    const double* x = x64_[I].data<double>();
    for (double eps : {o_.eps, o_.eps / 2}) {
      for (double sign : {1.0, -1.0}) {
        std::vector<Tensor> point = x64_;
        point[I] = x64_[I].clone();
        double* p = point[I].data<double>();
        for (size_t l = 0; l < w[I].size(); ++l) p[l] = x[l] + sign * (eps * w[I][l]);
        points.push_back(std::move(point));
        if (points.size() >= static_cast<size_t>(kPrefetchPoints)) {
          o_.prefetch(points);
          points.clear();
        }
      }
      if (o_.scheme != Scheme::Richardson) break;
    }
  }
  if (!points.empty()) o_.prefetch(points);
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

}  // namespace gradoracle::oracle::detail
