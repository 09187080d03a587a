#pragma once
// Internal kernels: typed loops and Eigen maps over contiguous buffers. No autograd here.
#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "gradoracle/engine/tensor.hpp"

namespace gradoracle::kernels {

template <class T> using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using MatrixRM = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using MatrixMap = Eigen::Map<MatrixRM<T>>;
template <class T> using ConstMatrixMap = Eigen::Map<const MatrixRM<T>>;

template <class T> ArrayMap<T> array(const Tensor& t) { return ArrayMap<T>(t.data<T>(), t.numel()); }
template <class T> ConstArrayMap<T> carray(const Tensor& t) { return ConstArrayMap<T>(t.data<T>(), t.numel()); }
// A tensor viewed as a rows × cols row-major matrix.
template <class T> MatrixMap<T> matrix(const Tensor& t, int64_t rows, int64_t cols) {
  return MatrixMap<T>(t.data<T>(), rows, cols);
}

// n values of T, held inline up to N of them (no allocation for the ranks and small sums of
// everyday tensors), on the heap beyond. Not copyable: it points into itself.
template <class T, size_t N = 8>
class SmallBuffer {
 public:
  explicit SmallBuffer(size_t n, T init = T()) : n_(n) {
    if (n > N) {
      big_.assign(n, init);
      p_ = big_.data();
    } else {
      p_ = small_;
      for (size_t i = 0; i < n; ++i) small_[i] = init;
    }
  }
  SmallBuffer(const SmallBuffer&) = delete;
  SmallBuffer& operator=(const SmallBuffer&) = delete;
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }
  T* data() { return p_; }
  size_t size() const { return n_; }

 private:
  T small_[N];
  std::vector<T> big_;
  T* p_;
  size_t n_;
};
using Strides = SmallBuffer<int64_t>;

// Strides of `shape` right-aligned against a rank-r output: 0 on broadcast (size-1 or missing) dims.
inline void broadcast_strides_into(const Shape& shape, const Shape& out, int64_t* strides) {
  const size_t r = out.size(), off = r - shape.size();
  for (size_t i = 0; i < r; ++i) strides[i] = 0;
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + off] = shape[i] == 1 ? 0 : s;
    s *= shape[i];
  }
}
inline std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  broadcast_strides_into(shape, out, strides.data());
  return strides;
}

// Calls body(offset_a, offset_b, out_offset_of_row, inner, inner_stride_a, inner_stride_b) for each
// innermost row of `out`, walking a and b with the given strides (any indexable of out's rank):
// the one broadcasting loop.
template <class StridesA, class StridesB, class Body>
void for_each_row(const Shape& out, const StridesA& sa, const StridesB& sb, Body&& body) {
  const int64_t n = numel(out);
  if (n == 0) return;
  if (out.empty()) {
    body(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0}, int64_t{0});
    return;
  }
  const size_t r = out.size();
  const int64_t inner = out[r - 1];
  Strides idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t o = 0; o < n; o += inner) {
    body(oa, ob, o, inner, sa[r - 1], sb[r - 1]);
    for (size_t d = r - 1; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < out[d]) break;
      oa -= sa[d] * out[d];
      ob -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

// out = f(a, b) elementwise with broadcasting; f is a scalar functor.
template <class T, class F>
void binary(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.numel();
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
  } else if (a.shape() == out.shape() && b.numel() == 1) {
    const T s = pb[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(pa[i], s);
  } else if (b.shape() == out.shape() && a.numel() == 1) {
    const T s = pa[0];
    for (int64_t i = 0; i < n; ++i) po[i] = f(s, pb[i]);
  } else {
    Strides sa(out.shape().size()), sb(out.shape().size());
    broadcast_strides_into(a.shape(), out.shape(), sa.data());
    broadcast_strides_into(b.shape(), out.shape(), sb.data());
    for_each_row(out.shape(), sa, sb,
                 [&](int64_t oa, int64_t ob, int64_t o, int64_t inner, int64_t ia, int64_t ib) {
                   for (int64_t j = 0; j < inner; ++j) po[o + j] = f(pa[oa + j * ia], pb[ob + j * ib]);
                 });
  }
}

// Whether summing `in` to `out` (right-aligned) sums some leading dims of `in` away and keeps
// the others, the last one (of size > 1) among them: out is in's trailing dims, with 1s or
// nothing in front.
inline bool sums_leading_dims_only(const Shape& in, const Shape& out) {
  if (in.empty() || out.empty() || in.back() == 1 || out.size() > in.size()) return false;
  const size_t off = in.size() - out.size();
  size_t kept = out.size();  // out[kept..] == in[off + kept..]; out[..kept] must be all 1
  while (kept > 0 && out[kept - 1] == in[off + kept - 1]) --kept;
  for (size_t i = 0; i < kept; ++i) {
    if (out[i] != 1) return false;
  }
  return kept < out.size();
}

// out (shape `out_shape`, which `in` broadcasts from... reversed): out[j] = Σ in[i] over the
// elements i of `in` that map to j, where out's shape, right-aligned, has 1 on every summed dim.
// Accumulates in double.
//
// The common case, summing whole leading dims away ((N, M) to (M) or (1, M): a bias's gradient),
// runs as a plain loop over rows: it adds the same values in the same order as the general
// walk (each out[j] gets in[0][j], in[1][j], ... in turn), so the result is bit-identical.
template <class T>
void sum_into(const Tensor& in, const Shape& out_shape, T* out) {
  const int64_t m = numel(out_shape);
  SmallBuffer<double, 16> acc(static_cast<size_t>(m), 0.0);
  const T* pi = in.data<T>();
  if (sums_leading_dims_only(in.shape(), out_shape)) {
    const int64_t rows = m == 0 ? 0 : numel(in.shape()) / m;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < m; ++j) acc[static_cast<size_t>(j)] += pi[i * m + j];
    }
    for (int64_t j = 0; j < m; ++j) out[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
    return;
  }
  const size_t r = in.shape().size();
  Strides so(r), zero(r, 0);
  broadcast_strides_into(out_shape, in.shape(), so.data());
  for_each_row(in.shape(), so, zero, [&](int64_t oo, int64_t, int64_t i, int64_t inner, int64_t io, int64_t) {
    if (io == 0) {
      double s = 0;
      for (int64_t j = 0; j < inner; ++j) s += pi[i + j];
      acc[static_cast<size_t>(oo)] += s;
    } else {
      for (int64_t j = 0; j < inner; ++j) acc[static_cast<size_t>(oo + j * io)] += pi[i + j];
    }
  });
  for (int64_t j = 0; j < m; ++j) out[j] = static_cast<T>(acc[static_cast<size_t>(j)]);
}

// out = in broadcast to out's shape.
template <class T>
void expand_into(const Tensor& in, const Tensor& out) {
  const T* pi = in.data<T>();
  T* po = out.data<T>();
  const size_t r = out.shape().size();
  Strides si(r), zero(r, 0);
  broadcast_strides_into(in.shape(), out.shape(), si.data());
  for_each_row(out.shape(), si, zero, [&](int64_t oi, int64_t, int64_t o, int64_t inner, int64_t ii, int64_t) {
    for (int64_t j = 0; j < inner; ++j) po[o + j] = pi[oi + j * ii];
  });
}

}  // namespace gradoracle::kernels
