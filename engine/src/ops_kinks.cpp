// Kinks and ties: clamp, maximum, minimum, max, min, amax, amin. Each is piecewise linear; what
// PyTorch 1.13's backward gives where the pieces meet is part of its semantics:
//   clamp            the gradient passes where min <= x <= max, bounds included (ClampBackward1);
//   maximum/minimum  a tie a == b splits it in halves (MaximumBackward0);
//   max()/min()      every element equal to the result shares it evenly (MaxBackward1);
//   max/min(dim)     it goes to the one index torch returns, the first extremum (MaxBackward0);
//   amax/amin        the elements equal to their slice's result share it evenly (AmaxBackward0).
// Every backward is g spread over the input by constant weights (a `Spread`: where the mask
// holds, g / count), a fused kernel; under create_graph it is recorded as PyTorch's last op in
// its formula (WhereBackward0, MaskedFillBackward0/1, ScatterBackward0, MulBackward0), and as a
// linear map of g with constant weights it differentiates again into the same spread. The
// derivative in x is 0 (PyTorch's masks are constants), so x takes no part in the graph.
#include <cmath>
#include <limits>
#include <memory>

#include "op_helpers.hpp"

namespace gradoracle {

using detail::grads;

namespace {

// Calls f(i, o) for each element i of a row-major tensor of shape `in` and the element o of
// `kept` (in's shape with each reduced dim 1) that it reduces into.
template <class F>
void for_each_slot(const Shape& in, const Shape& kept, F&& f) {
  const size_t r = in.size();
  kernels::Strides so(r), zero(r, 0);
  kernels::broadcast_strides_into(kept, in, so.data());
  kernels::for_each_row(in, so, zero, [&](int64_t oo, int64_t, int64_t i, int64_t inner, int64_t io, int64_t) {
    for (int64_t j = 0; j < inner; ++j) f(i + j, oo + j * io);
  });
}

// The gradient of an input as constant weights on the upstream g (of numel(kept), row-major):
//   select:   b_i = mask_i ? g_o / count_o : 0   (PyTorch's where, masked_fill, scatter)
//   multiply: b_i = (g_o / count_o) · mask_i      (amax's product: NaN where g_o / count_o is not finite)
// with o the element of `kept` that i reduces into (kept = in_shape for elementwise ops).
struct Spread {
  Shape in_shape, kept;
  std::vector<uint8_t> mask;  // per element of in_shape
  std::vector<double> count;  // per element of kept; empty: 1
  bool multiply = false;
  const char* name = "";       // PyTorch's grad_fn of the result under create_graph
  const char* view = nullptr;  // the view PyTorch takes of an upstream not of kept's shape
};
using SpreadPtr = std::shared_ptr<const Spread>;

// b of s.in_shape from g: g_o (diagonal: g_i, g of in_shape) over count_o, as Spread says.
Tensor spread_values(const Tensor& g, const Spread& s, bool diagonal) {
  Tensor b = Tensor::empty(s.in_shape, g.dtype());
  dispatch(g.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = g.data<T>();
    T* pb = b.data<T>();
    for_each_slot(s.in_shape, s.kept, [&](int64_t i, int64_t o) {
      const T q = s.count.empty() ? pg[diagonal ? i : o] : pg[diagonal ? i : o] / static_cast<T>(s.count[o]);
      const bool m = s.mask[static_cast<size_t>(i)] != 0;
      pb[i] = s.multiply ? q * static_cast<T>(m) : (m ? q : T(0));
    });
  });
  return b;
}

// The spread, recorded under create_graph as s.name with input g (viewed to kept first, as
// PyTorch's unsqueeze or reshape of a non-keepdim upstream). Linear in g with constant weights:
// its backward is the same weights on gg (diagonal), which the engine sums back to kept.
Tensor spread(const Tensor& g, const SpreadPtr& s, bool diagonal = false) {
  Tensor b = spread_values(g, *s, diagonal);
  if (!detail::needs_graph({&g})) return b;
  const Tensor from = !diagonal && g.shape() != s->kept && s->view ? detail::view_as_named(g, s->kept, s->view) : g;
  record(b, s->name, {from}, [s](const Tensor& gg, NeedsGrad) { return grads(spread(gg, s, true)); });
  return b;
}

// ---------------------------------------------------------------- reductions

// PyTorch's strict comparisons: max keeps the first of tied elements, NaN wins and stays.
template <class T>
bool beats(T v, T best, bool is_max) {
  return std::isnan(v) || (is_max ? v > best : v < best);
}

struct Reduced {
  Tensor values;              // of shape `out`, kept's numel
  std::vector<int64_t> index; // the input element each value came from (the first extremum)
};

// The extremum of each slot of `kept` over a's elements reducing into it, as a tensor of shape
// `out` (kept or kept less its reduced dims: the same row-major order).
Reduced extremum_over(const Tensor& a, const Shape& kept, const Shape& out, bool is_max) {
  Reduced r{Tensor::empty(out, a.dtype()), std::vector<int64_t>(static_cast<size_t>(numel(kept)), -1)};
  dispatch(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pa = a.data<T>();
    T* py = r.values.data<T>();
    for_each_slot(a.shape(), kept, [&](int64_t i, int64_t o) {
      int64_t& at = r.index[static_cast<size_t>(o)];
      if (at < 0 || (!std::isnan(py[o]) && beats(pa[i], py[o], is_max))) {
        py[o] = pa[i];
        at = i;
      }
    });
  });
  return r;
}

// The elements equal to their slot's value y_o (NaN matches NaN where `nan_matches`), and how many
// in each slot: max()'s evenly_distribute_backward and amax's scale_grad_by_count.
SpreadPtr ties_of(const Tensor& a, const Tensor& y, const Shape& kept, bool nan_matches, bool multiply,
                  const char* name, const char* view) {
  auto s = std::make_shared<Spread>();
  s->in_shape = a.shape();
  s->kept = kept;
  s->mask.assign(static_cast<size_t>(a.numel()), 0);
  s->count.assign(static_cast<size_t>(numel(kept)), 0.0);
  s->multiply = multiply;
  s->name = name;
  s->view = view;
  dispatch(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pa = a.data<T>();
    const T* py = y.data<T>();
    for_each_slot(a.shape(), kept, [&](int64_t i, int64_t o) {
      const bool hit = pa[i] == py[o] || (nan_matches && std::isnan(py[o]) && std::isnan(pa[i]));
      s->mask[static_cast<size_t>(i)] = hit;
      s->count[static_cast<size_t>(o)] += hit;
    });
  });
  return s;
}

Shape kept_shape(const Shape& s, const std::vector<bool>& reduced) {
  Shape k = s;
  for (size_t i = 0; i < s.size(); ++i) {
    if (reduced[i]) k[i] = 1;
  }
  return k;
}

Shape result_shape(const Shape& s, const std::vector<bool>& reduced, bool keepdim) {
  if (keepdim) return kept_shape(s, reduced);
  Shape r;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!reduced[i]) r.push_back(s[i]);
  }
  return r;
}

// PyTorch's refusal of a reduction over no elements without a dim.
void require_elements(const Tensor& a, const char* op) {
  if (a.numel() == 0) {
    fail(ErrorKind::Value, std::string(op) + "(): Expected reduction dim to be specified for input.numel() == 0. "
                                            "Specify the reduction dim with the 'dim' argument.");
  }
}

// max()/min(): every element equal to the result (NaN: every NaN) gets g / count, as PyTorch
// 1.13's evenly_distribute_backward (zeros masked_fill'ed with g / count: MaskedFillBackward1).
Tensor extremum_all(const Tensor& a, bool is_max) {
  const char* op = is_max ? "max" : "min";
  require_elements(a, op);
  const Shape kept(a.shape().size(), 1);
  Tensor y = extremum_over(a, kept, {}, is_max).values;
  record(y, is_max ? "MaxBackward1" : "MinBackward1", {a}, [a, y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
    return grads(spread(g, ties_of(a, y.tensor(g), Shape(a.shape().size(), 1), true, false, "MaskedFillBackward1", nullptr)));
  });
  return y;
}

// max/min(dim).values: g goes to the index torch returns (the first extremum along dim, the first
// NaN if any): PyTorch's value_selecting_reduction_backward, zeros scatter_'ed (ScatterBackward0)
// after an unsqueeze of a non-keepdim upstream.
Tensor extremum_dim(const Tensor& a, int64_t dim, bool keepdim, bool is_max) {
  const int64_t d = wrap_dim(dim, a.dim());
  if (a.dim() > 0 && a.shape()[static_cast<size_t>(d)] == 0) {
    fail(ErrorKind::Dim, std::string(is_max ? "max" : "min") + "(): Expected reduction dim " + std::to_string(d) +
                             " to have non-zero size.");
  }
  std::vector<bool> reduced(a.shape().size(), false);
  if (a.dim() > 0) reduced[static_cast<size_t>(d)] = true;
  const Shape kept = kept_shape(a.shape(), reduced);
  Reduced r = extremum_over(a, kept, result_shape(a.shape(), reduced, keepdim), is_max);
  Tensor y = r.values;
  if (!any_requires_grad(std::span<const Tensor>(&a, 1))) return y;
  auto s = std::make_shared<Spread>();
  s->in_shape = a.shape();
  s->kept = kept;
  s->mask.assign(static_cast<size_t>(a.numel()), 0);
  for (int64_t i : r.index) s->mask[static_cast<size_t>(i)] = 1;
  s->name = "ScatterBackward0";
  s->view = "UnsqueezeBackward0";
  record(y, is_max ? "MaxBackward0" : "MinBackward0", {a},
         [s = SpreadPtr(std::move(s))](const Tensor& g, NeedsGrad) { return grads(spread(g, s)); });
  return y;
}

// amax/amin: the elements equal to their slice's result share g evenly, as PyTorch 1.13's
// scale_grad_by_count: (g / count)·mask, after a reshape of a non-keepdim upstream (MulBackward0).
// A slice whose result is NaN matches no element: count 0, and every gradient in it NaN.
Tensor extremum_dims(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim, bool is_max) {
  const char* op = is_max ? "amax" : "amin";
  if (a.numel() == 0) {  // PyTorch checks sizes first, each dim in order, named as given
    if (dims.empty()) require_elements(a, op);
    for (int64_t dim : dims) {
      if (a.shape()[static_cast<size_t>(wrap_dim(dim, a.dim()))] == 0) {
        fail(ErrorKind::Dim, std::string(op) + "(): Expected reduction dim " + std::to_string(dim) +
                                 " to have non-zero size.");
      }
    }
  }
  const std::vector<bool> reduced = detail::reduced_mask(a, dims);
  const Shape kept = kept_shape(a.shape(), reduced);
  Tensor y = extremum_over(a, kept, result_shape(a.shape(), reduced, keepdim), is_max).values;
  record(y, is_max ? "AmaxBackward0" : "AminBackward0", {a},
         [a, kept, y = detail::SavedOutput(y)](const Tensor& g, NeedsGrad) {
           return grads(spread(g, ties_of(a, y.tensor(g), kept, false, true, "MulBackward0", "ViewBackward0")));
         });
  return y;
}

// ---------------------------------------------------------------- elementwise

// maximum/minimum's weights for one operand (`mine`, against `other`, both broadcast to the
// result's shape): 1/2 at a tie, 0 where it loses, 1 elsewhere (NaN on either side included), as
// PyTorch 1.13's where(a == b, g / 2, g).masked_fill_(a < b, 0) (MaskedFillBackward0).
SpreadPtr extremum_weights(const Tensor& mine, const Tensor& other, const Shape& out, bool is_max) {
  auto s = std::make_shared<Spread>();
  s->in_shape = s->kept = out;
  s->mask.assign(static_cast<size_t>(numel(out)), 0);
  s->count.assign(static_cast<size_t>(numel(out)), 1.0);
  s->name = "MaskedFillBackward0";
  dispatch(mine.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pm = mine.data<T>();
    const T* po = other.data<T>();
    const size_t r = out.size();
    kernels::Strides sm(r), so(r);
    kernels::broadcast_strides_into(mine.shape(), out, sm.data());
    kernels::broadcast_strides_into(other.shape(), out, so.data());
    kernels::for_each_row(out, sm, so, [&](int64_t om, int64_t oo, int64_t o, int64_t inner, int64_t im, int64_t io) {
      for (int64_t j = 0; j < inner; ++j) {
        const T x = pm[om + j * im], v = po[oo + j * io];
        const auto at = static_cast<size_t>(o + j);
        s->mask[at] = !(is_max ? x < v : x > v);
        if (x == v) s->count[at] = 2;
      }
    });
  });
  return s;
}

Tensor extremum_pair(Tensor a, Tensor b, bool is_max) {
  detail::promote_pair(a, b);
  Tensor y = detail::broadcast_zip(a, b, [is_max](auto x, auto v) {
    using T = decltype(x);
    if (std::isnan(x) || std::isnan(v)) return std::numeric_limits<T>::quiet_NaN();
    return (is_max ? x < v : x > v) ? v : x;  // a tie of ±0 keeps a, as PyTorch's scalar loop
  });
  record(y, is_max ? "MaximumBackward0" : "MinimumBackward0", {a, b}, [a, b, is_max](const Tensor& g, NeedsGrad needs) {
    return std::vector<Tensor>{needs[0] ? spread(g, extremum_weights(a, b, g.shape(), is_max)) : Tensor(),
                               needs[1] ? spread(g, extremum_weights(b, a, g.shape(), is_max)) : Tensor()};
  });
  return y;
}

}  // namespace

// NOTE: clamp's gradient passes where min <= x <= max, bounds included (PyTorch 1.13's
// clamp_backward: where(x >= min & x <= max, g, 0), WhereBackward0); 0 at NaN, and everywhere
// when min > max (the result is max) or a bound is NaN (the result is NaN).
Tensor clamp(const Tensor& a, std::optional<double> min, std::optional<double> max) {
  if (!min && !max) fail(ErrorKind::Value, "torch.clamp: At least one of 'min' or 'max' must not be None");
  Tensor y = detail::map(a, [min, max](auto x) {
    using T = typename decltype(x)::Scalar;
    return x.unaryExpr([lo = static_cast<T>(min.value_or(0)), hi = static_cast<T>(max.value_or(0)), has_lo = min.has_value(),
                        has_hi = max.has_value()](T v) {
      if (has_lo && !(std::isnan(v) || v >= lo)) v = lo;  // a NaN bound makes every value NaN
      if (has_hi && !(std::isnan(v) || v <= hi)) v = hi;
      return v;
    });
  });
  record(y, "ClampBackward1", {a}, [a, min, max](const Tensor& g, NeedsGrad) {
    auto s = std::make_shared<Spread>();
    s->in_shape = s->kept = a.shape();
    s->mask.resize(static_cast<size_t>(a.numel()));
    s->name = "WhereBackward0";
    dispatch(a.dtype(), [&](auto z) {
      using T = decltype(z);
      const T* pa = a.data<T>();
      for (size_t i = 0; i < s->mask.size(); ++i) {
        s->mask[i] = (!min || pa[i] >= static_cast<T>(*min)) && (!max || pa[i] <= static_cast<T>(*max));
      }
    });
    return grads(spread(g, s));
  });
  return y;
}

Tensor maximum(const Tensor& a, const Tensor& b) { return extremum_pair(a, b, true); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extremum_pair(a, b, false); }
Tensor max(const Tensor& a) { return extremum_all(a, true); }
Tensor min(const Tensor& a) { return extremum_all(a, false); }
Tensor max(const Tensor& a, int64_t dim, bool keepdim) { return extremum_dim(a, dim, keepdim, true); }
Tensor min(const Tensor& a, int64_t dim, bool keepdim) { return extremum_dim(a, dim, keepdim, false); }
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) { return extremum_dims(a, dims, keepdim, true); }
Tensor amin(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) { return extremum_dims(a, dims, keepdim, false); }

}  // namespace gradoracle
