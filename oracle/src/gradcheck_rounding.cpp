// The float32 analytic side's rounding ρ (the model: gradcheck.hpp): the same backward on the
// float64 copies (a₆₄), f'' by a float64 second difference, and the output's rounding δ.
#include <algorithm>
#include <cmath>
#include <exception>

#include "gradcheck_run.hpp"

namespace gradoracle::oracle::detail {

namespace {
constexpr double kRoundingUlps = 4.0;    // δ: a few ulps of the output
constexpr double kCurvatureStep = 1e-3;  // f'''s second difference: h₂ = 1e-3·max(1, |x|)
}  // namespace

bool Run::analytic_in_float32(int i, int j) const {
  return inputs_[static_cast<size_t>(i)].dtype() == DType::Float32 || outs_[static_cast<size_t>(j)].dtype() == DType::Float32;
}

// ρ = √(a₆₄² + 2|f''|δ) − |a₆₄| when a₆₄ passes the float64 inequality, else 0.
double Run::rounding(const EntryReport& e) {
  const double a64 = analytic64(e.input, e.output, e.output_flat, e.input_flat);
  if (!std::isfinite(a64)) return 0.0;
  const Tolerance t64 = gradcheck_tolerance(DType::Float64);
  const double n = e.numeric;
  const double allowed64 = entry_allowance(t64, a64, n, o_.estimate_weight * e.estimate);
  if (!(std::abs(a64 - n) <= allowed64)) return 0.0;  // the float64 backward is wrong too: not rounding
  const double f2 = curvature(e.input, e.input_flat, e.output, e.output_flat);
  if (!std::isfinite(f2)) return 0.0;
  if (outs32_.empty())
    for (const Tensor& y : outs_) outs32_.push_back(y.to_vector());
  const size_t J = static_cast<size_t>(e.output), K = static_cast<size_t>(e.output_flat);
  const double y64 = base_[J][K], y32 = outs32_[J][K];
  const double delta = kRoundingUlps * std::max(kEps32 * std::abs(y64), std::abs(y32 - y64));
  const double t = 2.0 * std::abs(f2) * delta;
  if (!std::isfinite(t) || t == 0.0) return 0.0;
  return t / (std::sqrt(a64 * a64 + t) + std::abs(a64));  // √(a² + t) − |a| without cancellation
}

// d out_j[k] / d in_i[l] by the backward on float64 copies of the inputs (rows cached).
double Run::analytic64(int i, int j, int64_t k, int64_t l) {
  if (graph64_ == 0) {
    graph64_ = -1;
    try {
      for (size_t n = 0; n < x64_.size(); ++n) {
        Tensor leaf = Tensor::from_data(x64_[n].shape(), x64_[n].to_vector(), DType::Float64);
        if (std::find(sel_in_.begin(), sel_in_.end(), static_cast<int>(n)) != sel_in_.end()) leaf.requires_grad_(true);
        leaves64_.push_back(leaf);
      }
      HoldScope scope(hold_, HoldState::Mode::Pass);
      outs64_ = f_(leaves64_);
    } catch (const std::exception&) {
      return kNaN;
    }
    if (outs64_.size() != outs_.size()) return kNaN;
    for (size_t n = 0; n < outs64_.size(); ++n)
      if (outs64_[n].shape() != outs_[n].shape()) return kNaN;
    graph64_ = 1;
  }
  if (graph64_ < 0) return kNaN;
  auto [it, fresh] = rows64_.try_emplace({j, k});
  Values& row = it->second;
  if (fresh) {
    const Tensor& out = outs64_[static_cast<size_t>(j)];
    row.assign(inputs_.size(), {});
    for (int s : sel_in_) row[static_cast<size_t>(s)].assign(static_cast<size_t>(inputs_[static_cast<size_t>(s)].numel()), 0.0);
    if (out.requires_grad()) {
      std::vector<double> up(static_cast<size_t>(out.numel()), 0.0);
      up[static_cast<size_t>(k)] = 1.0;
      for (int s : sel_in_) leaves64_[static_cast<size_t>(s)].set_grad(Tensor());
      try {
        out.backward(Tensor::from_data(out.shape(), up, out.dtype()), /*retain_graph=*/true);
        for (int s : sel_in_) {
          const Tensor grad = leaves64_[static_cast<size_t>(s)].grad();
          if (grad.defined() && grad.numel() == inputs_[static_cast<size_t>(s)].numel())
            row[static_cast<size_t>(s)] = grad.to_vector();
        }
      } catch (const std::exception&) {
        for (int s : sel_in_) std::fill(row[static_cast<size_t>(s)].begin(), row[static_cast<size_t>(s)].end(), kNaN);
      }
      for (int s : sel_in_) leaves64_[static_cast<size_t>(s)].set_grad(Tensor());
    }
  }
  return row[static_cast<size_t>(i)][static_cast<size_t>(l)];
}

// ∂²out_j[k] / ∂in_i[l]² = 2·((f₊ − f₀)/h₊ − (f₀ − f₋)/h₋)/(h₊ + h₋), float64, step h₂ (columns
// cached). A run that fails, or is unstable at this wider step, gives NaN (no ρ), not a problem.
double Run::curvature(int i, int64_t l, int j, int64_t k) {
  auto [it, fresh] = curvature_.try_emplace({i, l});
  Values& c = it->second;
  if (fresh) {
    const double xl = x64_[static_cast<size_t>(i)].data<double>()[l];
    const double h = kCurvatureStep * (o_.step == Step::Relative ? std::max(1.0, std::abs(xl)) : 1.0);
    const double hp = (xl + h) - xl, hm = xl - (xl - h);
    const size_t problems = r_.problems.size();
    const bool mismatch = hold_.mismatch;
    Values plus, minus;
    bool ok = true;
    try {
      eval_element(i, l, hp, plus);
      eval_element(i, l, -hm, minus);
    } catch (const std::exception&) {
      ok = false;
    }
    ok = ok && r_.problems.size() == problems && hold_.mismatch == mismatch;
    r_.problems.resize(problems);
    hold_.mismatch = mismatch;
    c.assign(base_.size(), {});
    if (ok) {
      for (int o : sel_out_) {
        const size_t J = static_cast<size_t>(o);
        c[J].resize(base_[J].size());
        for (size_t m = 0; m < base_[J].size(); ++m)
          c[J][m] = 2.0 * ((plus[J][m] - base_[J][m]) / hp - (base_[J][m] - minus[J][m]) / hm) / (hp + hm);
      }
    }
  }
  const std::vector<double>& cj = c[static_cast<size_t>(j)];
  return cj.empty() ? kNaN : cj[static_cast<size_t>(k)];
}

}  // namespace gradoracle::oracle::detail
