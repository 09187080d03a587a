// F.layer_norm: x normalized over its trailing dims (normalized_shape), then scaled by weight
// and shifted by bias, both optional and of normalized_shape. Rows are the leading dims: N rows
// of M = numel(normalized_shape) elements. Per row (biased variance, as PyTorch):
//   μ = mean(x),  σ² = mean((x - μ)²),  r = 1/√(σ² + eps),  x̂ = (x - μ)·r,  y = x̂·w + b.
// A constant row has σ² = 0: r = 1/√eps, x̂ = 0, y = b; eps keeps it smooth.
// Backward, upstream g, u = g·w (g without weight):
//   dx = r·(u - mean(u) - x̂·mean(u·x̂)),  dw = Σ_rows g·x̂,  db = Σ_rows g.
// Without create_graph this is one fused pass per row (Eigen, contiguous buffers); under
// create_graph the same formula is built from recorded engine ops (so it differentiates again)
// and each gradient is given PyTorch's name for it, NativeLayerNormBackwardBackward0.
// NOTE: PyTorch computes float32 in float (acc type float on CPU), as here: T throughout.
#include <cmath>
#include <string>
#include <type_traits>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

namespace {

std::string join_dims(const std::vector<int64_t>& dims) {
  std::string s;
  for (int64_t d : dims) s += ", " + std::to_string(d);
  return s;
}

// PyTorch 1.13's _check_layer_norm_inputs, in its order: normalized_shape non-empty, weight's
// shape, bias's shape, then x's trailing dims; then the dtypes (native_layer_norm's kernel).
void check_inputs(const Tensor& x, const Shape& ns, const Tensor& weight, const Tensor& bias) {
  if (ns.empty()) {
    fail(ErrorKind::Value,
         "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
         "normalized_shape = []");
  }
  for (const auto& [t, what] : {std::pair{&weight, "weight"}, std::pair{&bias, "bias"}}) {
    if (t->defined() && t->shape() != ns) {
      fail(ErrorKind::Shape, std::string("Expected ") + what + " to be of same shape as normalized_shape, but got " +
                                 what + " of shape " + to_string(t->shape()) + " and normalized_shape = " +
                                 to_string(ns));
    }
  }
  const Shape& s = x.shape();
  bool fits = s.size() >= ns.size();
  for (size_t i = 0; fits && i < ns.size(); ++i) fits = s[s.size() - ns.size() + i] == ns[i];
  if (!fits) {
    fail(ErrorKind::Shape, "Given normalized_shape=" + to_string(ns) + ", expected input with shape [*" +
                               join_dims(ns) + "], but got input of size" + to_string(s));
  }
  if (weight.defined()) detail::require_same_dtype(x, weight);
  if (bias.defined()) detail::require_same_dtype(x, bias);
}

// The fused backward: dx, dw, db (each only where `needs` asks) from the saved per-row μ and r.
std::vector<Tensor> fused_backward(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b,
                                   const Tensor& mean, const Tensor& rstd, int64_t m, NeedsGrad needs) {
  const int64_t n = mean.numel();
  Tensor dx = needs[0] ? Tensor::empty(x.shape(), x.dtype()) : Tensor();
  Tensor dw = needs[1] ? Tensor::zeros(w.shape(), x.dtype()) : Tensor();
  Tensor db = needs[2] ? Tensor::zeros(b.shape(), x.dtype()) : Tensor();
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    using Row = kernels::ConstArrayMap<T>;
    const T* gp = g.data<T>();
    const T* xp = x.data<T>();
    const T inv_m = T(1) / static_cast<T>(m);
    for (int64_t i = 0; i < n; ++i) {
      const Row gi(gp + i * m, m);
      const Row xi(xp + i * m, m);
      const T mu = mean.data<T>()[i];
      const T r = rstd.data<T>()[i];
      const auto xhat = (xi - mu) * r;
      if (needs[0]) {
        kernels::ArrayMap<T> dxi(dx.data<T>() + i * m, m);
        if (w.defined()) {
          const auto u = gi * kernels::carray<T>(w);
          const T mean_u = u.sum() * inv_m;
          const T mean_ux = (u * xhat).sum() * inv_m;
          dxi = r * (u - mean_u - xhat * mean_ux);
        } else {
          const T mean_u = gi.sum() * inv_m;
          const T mean_ux = (gi * xhat).sum() * inv_m;
          dxi = r * (gi - mean_u - xhat * mean_ux);
        }
      }
      if (needs[1]) kernels::array<T>(dw) += gi * xhat;
      if (needs[2]) kernels::array<T>(db) += gi;
    }
  });
  return {dx, dw, db};
}

// The same gradients from recorded engine ops, each under PyTorch's name for a gradient of
// native_layer_norm_backward (NativeLayerNormBackwardBackward0): a node over the recorded
// formula r and the backward's inputs (g, x, w), passing its upstream to r alone.
// NOTE: PyTorch's backward node also takes the forward's saved mean and rstd, which are outputs
// of NativeLayerNormBackward0 and so require grad under create_graph: every gradient it gives has
// this grad_fn, even one depending on nothing that requires grad (db with a constant upstream).
// `anchor` plays their part (the saved mean re-attached to the running node), receiving nothing.
Tensor named_backward(const Tensor& r, const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& anchor) {
  Tensor out = r.detach();
  record(out, "NativeLayerNormBackwardBackward0", {r, g, x, w, anchor}, [](const Tensor& gg, NeedsGrad) {
    return std::vector<Tensor>{gg, Tensor(), Tensor(), Tensor(), Tensor()};
  }, Saves::Nothing);
  return out;
}

std::vector<Tensor> recorded_backward(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b,
                                      const Tensor& anchor, int64_t n, int64_t m, double eps, NeedsGrad needs) {
  const Tensor xr = reshape(x, {n, m});
  const Tensor d = sub(xr, mean(xr, {1}, true));
  const Tensor r = pow(add(mean(mul(d, d), {1}, true), eps), -0.5);
  const Tensor xhat = mul(d, r);
  const Tensor gr = reshape(g, {n, m});
  std::vector<Tensor> out(3);
  if (needs[0]) {
    const Tensor u = w.defined() ? mul(gr, reshape(w, {1, m})) : gr;
    const Tensor dx = mul(r, sub(sub(u, mean(u, {1}, true)), mul(xhat, mean(mul(u, xhat), {1}, true))));
    out[0] = named_backward(reshape(dx, x.shape()), g, x, w, anchor);
  }
  if (needs[1]) out[1] = named_backward(reshape(sum(mul(gr, xhat), {0}), w.shape()), g, x, w, anchor);
  if (needs[2]) out[2] = named_backward(reshape(sum(gr, {0}), b.shape()), g, x, w, anchor);
  return out;
}

}  // namespace

Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const Shape ns(normalized_shape.begin(), normalized_shape.end());
  check_inputs(x, ns, weight, bias);
  const int64_t m = numel(ns);
  const int64_t n = m == 0 ? numel(Shape(x.shape().begin(), x.shape().end() - static_cast<int64_t>(ns.size())))
                           : x.numel() / m;
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean_t = Tensor::empty({n}, x.dtype());
  Tensor rstd_t = Tensor::empty({n}, x.dtype());
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* xp = x.data<T>();
    const T inv_m = T(1) / static_cast<T>(m);
    for (int64_t i = 0; i < n; ++i) {
      const kernels::ConstArrayMap<T> xi(xp + i * m, m);
      kernels::ArrayMap<T> yi(y.data<T>() + i * m, m);
      const T mu = xi.sum() * inv_m;
      const T var = (xi - mu).square().sum() * inv_m;
      const T r = T(1) / std::sqrt(var + T(eps));
      mean_t.data<T>()[i] = mu;
      rstd_t.data<T>()[i] = r;
      // float32: PyTorch 1.13's form and rounding, fma(x, r, −μ·r), then fma(·, w, b) (its CPU
      // kernel is built with FMA contraction): where |x|·r ≫ 1 (a row of one element, eps 1e-5)
      // torch's float32 result is the rounding of μ·r, ~1e-5, not 0, and so is ours.
      // float64: (x − μ)·r, exact where torch's differs by ~1e-13 (beneath every tolerance), so
      // that finite differences see no rounding steps (a row of one element gives 0).
      const T nb = -mu * r;
      const T* w = weight.defined() ? weight.data<T>() : nullptr;
      const T* b = bias.defined() ? bias.data<T>() : nullptr;
      for (int64_t j = 0; j < m; ++j) {
        const T t = std::is_same_v<T, float> ? std::fma(xi[j], r, nb) : (xi[j] - mu) * r;
        yi[j] = w ? (b ? std::fma(t, w[j], b[j]) : t * w[j]) : (b ? t + b[j] : t);
      }
    }
  });
  // The result is contiguous whatever x's layout (native_layer_norm: empty_like(X.contiguous(), Contiguous)).
  record(y, "NativeLayerNormBackward0", {x, weight, bias},
         [x, weight, bias, mean_t, rstd_t, n, m, eps](const Tensor& g, NeedsGrad needs) {
           if (!detail::creating_graph()) return fused_backward(g, x, weight, bias, mean_t, rstd_t, m, needs);
           const Tensor anchor = detail::SavedOutput(mean_t).tensor(mean_t);
           return recorded_backward(g, x, weight, bias, anchor, n, m, eps, needs);
         });
  return y;
}

}  // namespace gradoracle
