// Selection by condition or index: where, index_select, gather, embedding (PyTorch 1.13).
// Conditions are bool tensors and indices int64 tensors; neither is differentiable. Each
// forward is one pass over contiguous buffers; each backward is the adjoint selection (a
// where against 0, an index-add, a scatter-add), recorded under create_graph as PyTorch's own
// node (WhereBackward0, IndexAddBackward0, ScatterAddBackward0, EmbeddingDenseBackwardBackward0),
// whose backward selects again.
#include <algorithm>
#include <string>
#include <utility>

#include "op_helpers.hpp"

namespace gradoracle {

namespace {
using detail::grads;

using detail::torch_scalar_type;

// outer × size × inner: a's elements around `dim` (a 0-d tensor: 1 × 1 × 1).
struct Around {
  int64_t outer = 1, size = 1, inner = 1;
};
Around around(const Shape& s, int64_t dim) {
  Around r;
  if (s.empty()) return r;
  for (int64_t i = 0; i < dim; ++i) r.outer *= s[static_cast<size_t>(i)];
  r.size = s[static_cast<size_t>(dim)];
  for (size_t i = static_cast<size_t>(dim) + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}

// ---------------------------------------------------------------- where

// where(cond, a, b) over the broadcast of the three shapes; a and b share a float dtype.
Tensor where_kernel(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(shape, a.dtype());
  const bool* pc = cond.data<bool>();
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pa = a.template data<T>();
    const T* pb = b.template data<T>();
    T* po = out.data<T>();
    const int64_t n = out.numel();
    if (cond.shape() == shape && a.shape() == shape && b.shape() == shape) {
      for (int64_t i = 0; i < n; ++i) po[i] = pc[i] ? pa[i] : pb[i];
      return;
    }
    const size_t r = shape.size();
    kernels::Strides sc(r), sa(r), sb(r), idx(r, 0);
    kernels::broadcast_strides_into(cond.shape(), shape, sc.data());
    kernels::broadcast_strides_into(a.shape(), shape, sa.data());
    kernels::broadcast_strides_into(b.shape(), shape, sb.data());
    int64_t oc = 0, oa = 0, ob = 0;
    for (int64_t i = 0; i < n; ++i) {
      po[i] = pc[oc] ? pa[oa] : pb[ob];
      for (size_t d = r; d-- > 0;) {
        oc += sc[d];
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < shape[d]) break;
        oc -= sc[d] * shape[d];
        oa -= sa[d] * shape[d];
        ob -= sb[d] * shape[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}

Tensor where_impl(const Tensor& cond, Tensor a, Tensor b) {
  if (cond.dtype() != DType::Bool) {
    fail(ErrorKind::DType, std::string("where expected condition to be a boolean tensor, but got a tensor with dtype ") +
                               torch_scalar_type(cond.dtype()));
  }
  if (!is_floating(a.dtype())) fail_not_floating(a.dtype());
  if (!is_floating(b.dtype())) fail_not_floating(b.dtype());
  detail::promote_pair(a, b);
  Tensor y = where_kernel(cond, a, b);
  layout::follow(y, a, b);
  // d/da = where(cond, g, 0), d/db = where(cond, 0, g) (PyTorch: at::where(cond, grad, zeros({})));
  // the engine sums each back to its input's shape.
  record(y, "WhereBackward0", {a, b}, [cond](const Tensor& g, NeedsGrad needs) {
    const Tensor zero = Tensor::scalar(0.0, g.dtype());
    return std::vector<Tensor>{needs[0] ? where(cond, g, zero) : Tensor(), needs[1] ? where(cond, zero, g) : Tensor()};
  }, Saves::Tensors);
  return y;
}

// ---------------------------------------------------------------- index_select

// index_select's checks after dim is wrapped, in PyTorch 1.13's order and words (its CPU kernel:
// dim 1 of a tensor of rank > 1, and an empty self, take the "dim1" path and its message).
void check_index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  if (index.dim() > 1) fail(ErrorKind::Dim, "index_select(): Index is supposed to be a vector");
  if (index.dtype() != DType::Int64) fail(ErrorKind::DType, "index_select(): Expected dtype int32 or int64 for index");
  const int64_t n = index.numel();
  if (a.dim() == 0 && n != 1) {  // PyTorch 1.13 reads past the index here; later versions refuse so
    fail(ErrorKind::Value, "index_select(): Index to scalar can have only 1 value, got " + std::to_string(n) + " value(s)");
  }
  const int64_t size = a.dim() == 0 ? 1 : a.size(dim);
  const int64_t* pi = index.data<int64_t>();
  if (a.dim() > 1) {
    if (n == 0) return;
    if (a.numel() == 0 && size == 0) fail(ErrorKind::Value, "index_select(): self indexing axis dim should be positive");
    if (a.numel() == 0 || dim == 1) {
      for (int64_t i = 0; i < n; ++i) {
        if (pi[i] < 0 || pi[i] >= size) {
          fail(ErrorKind::Value, "INDICES element is out of DATA bounds, id=" + std::to_string(pi[i]) +
                                     " axis_dim=" + std::to_string(size));
        }
      }
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    if (pi[i] < 0 || pi[i] >= size) fail(ErrorKind::Dim, "index out of range in self");
  }
}

// out[o, j, i] = a[o, index[j], i] (indices checked).
Tensor index_select_kernel(const Tensor& a, int64_t dim, const Tensor& index, Shape out_shape) {
  Tensor out = Tensor::empty(std::move(out_shape), a.dtype());
  const Around in = around(a.shape(), dim);
  const int64_t n = index.numel();
  const int64_t* pi = index.data<int64_t>();
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pa = a.template data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < in.outer; ++o) {
      for (int64_t j = 0; j < n; ++j) {
        std::copy_n(pa + (o * in.size + pi[j]) * in.inner, in.inner, po + (o * n + j) * in.inner);
      }
    }
  });
  return out;
}

// zeros(shape).index_add_(dim, index, source): IndexAddBackward0 under create_graph, whose
// d/dsource = index_select(g, dim, index).expand_as(source) (ExpandBackward0 over
// IndexSelectBackward0, as PyTorch records it).
Tensor index_add_into_zeros(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& source) {
  Tensor out = Tensor::zeros(shape, source.dtype());
  const Around in = around(shape, dim);
  const int64_t n = index.numel();
  const int64_t* pi = index.data<int64_t>();
  dispatch(source.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* ps = source.template data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < in.outer; ++o) {
      for (int64_t j = 0; j < n; ++j) {
        T* dst = po + (o * in.size + pi[j]) * in.inner;
        const T* src = ps + (o * n + j) * in.inner;
        for (int64_t i = 0; i < in.inner; ++i) dst[i] += src[i];
      }
    }
  });
  if (detail::needs_graph({&source})) {
    record(out, "IndexAddBackward0", {source}, [dim, index, source_shape = source.shape()](const Tensor& g, NeedsGrad) {
      return grads(expand(index_select(g, dim, index), source_shape));
    }, Saves::Tensors);
  }
  return out;
}

// ---------------------------------------------------------------- gather

void check_gather(const Tensor& a, int64_t dim, const Tensor& index) {
  if (index.dtype() != DType::Int64) fail(ErrorKind::DType, "gather(): Expected dtype int64 for index");
  const auto nonempty_dim = [](const Tensor& t) { return std::max<int64_t>(t.dim(), 1); };
  if (nonempty_dim(index) != nonempty_dim(a)) {
    fail(ErrorKind::Shape, "Index tensor must have the same number of dimensions as input tensor");
  }
  const auto size = [](const Tensor& t, int64_t d) { return t.dim() == 0 ? int64_t{1} : t.size(d); };
  for (int64_t d = 0; d < nonempty_dim(a); ++d) {
    if (d != dim && size(index, d) > size(a, d)) {
      fail(ErrorKind::Shape, "Size does not match at dimension " + std::to_string(d) + " expected index " +
                                 to_string(index.shape()) + " to be smaller than self " + to_string(a.shape()) +
                                 " apart from dimension " + std::to_string(dim));
    }
  }
  const int64_t bound = size(a, dim);
  const int64_t* pi = index.data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i) {
    if (pi[i] < 0 || pi[i] >= bound) {
      fail(ErrorKind::Value, "index " + std::to_string(pi[i]) + " is out of bounds for dimension " + std::to_string(dim) +
                                 " with size " + std::to_string(bound));
    }
  }
}

// Calls f(k, offset) for each element k of `index` (row-major) with the offset in a tensor of
// shape `self` of the element index[k] selects along dim: the one walk of gather and scatter_add.
template <class F>
void for_each_gathered(const Shape& self, int64_t dim, const Tensor& index, F f) {
  const int64_t n = index.numel();
  if (n == 0) return;
  const int64_t* pi = index.data<int64_t>();
  if (index.dim() == 0 || self.empty()) {
    for (int64_t k = 0; k < n; ++k) f(k, pi[k]);
    return;
  }
  const Shape& ishape = index.shape();
  const size_t r = ishape.size();
  const std::vector<int64_t> strides = contiguous_strides(self);
  kernels::Strides idx(r, 0);
  int64_t base = 0;  // offset in self of idx with idx[dim] taken as 0
  const auto sd = static_cast<size_t>(dim);
  for (int64_t k = 0; k < n; ++k) {
    f(k, base + pi[k] * strides[sd]);
    for (size_t d = r; d-- > 0;) {
      if (d != sd) base += strides[d];
      if (++idx[d] < ishape[d]) break;
      if (d != sd) base -= strides[d] * ishape[d];
      idx[d] = 0;
    }
  }
}

// zeros(shape).scatter_add_(dim, index, source): ScatterAddBackward0 under create_graph, whose
// d/dsource = gather(g, dim, index) (GatherBackward0).
Tensor scatter_add_into_zeros(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& source) {
  Tensor out = Tensor::zeros(shape, source.dtype());
  dispatch(source.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* ps = source.template data<T>();
    T* po = out.data<T>();
    for_each_gathered(shape, dim, index, [&](int64_t k, int64_t at) { po[at] += ps[k]; });
  });
  if (detail::needs_graph({&source})) {
    record(out, "ScatterAddBackward0", {source}, [dim, index](const Tensor& g, NeedsGrad) {
      return grads(gather(g, dim, index));
    }, Saves::Tensors);
  }
  return out;
}

// ---------------------------------------------------------------- embedding

// PyTorch's name of an indices tensor of the wrong type in embedding's checkScalarTypes.
std::string torch_tensor_type(DType d) {
  switch (d) {
    case DType::Float32: return "torch.FloatTensor";
    case DType::Float64: return "torch.DoubleTensor";
    case DType::Bool: return "CPUBoolType";
    case DType::Int64: return "torch.LongTensor";
  }
  return "?";
}

// embedding_dense_backward(g, indices, num_weights): row indices[k] of the result sums the rows
// of g at k; under create_graph EmbeddingDenseBackwardBackward0, whose d/dg =
// g2.index_select(0, indices.reshape(-1)).view(g's shape) (ViewBackward0 over IndexSelectBackward0).
Tensor embedding_dense_backward(const Tensor& g, const Tensor& indices, int64_t num_weights) {
  const int64_t d = g.shape().back();
  Tensor out = Tensor::zeros({num_weights, d}, g.dtype());
  const int64_t* pi = indices.data<int64_t>();
  dispatch(g.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pg = g.template data<T>();
    T* po = out.data<T>();
    for (int64_t k = 0; k < indices.numel(); ++k) {
      for (int64_t j = 0; j < d; ++j) po[pi[k] * d + j] += pg[k * d + j];
    }
  });
  if (detail::needs_graph({&g})) {
    record(out, "EmbeddingDenseBackwardBackward0", {g}, [indices, g_shape = g.shape()](const Tensor& gg, NeedsGrad) {
      const Tensor flat = reshape(indices, {indices.numel()}).detach();
      return grads(detail::view_as_named(index_select(gg, 0, flat), g_shape, "ViewBackward0"));
    }, Saves::Tensors);
  }
  return out;
}
}  // namespace

// ---------------------------------------------------------------- the ops

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) { return where_impl(cond, a, b); }
Tensor where(const Tensor& cond, const Tensor& a, double b) { return where_impl(cond, a, detail::wrap(b, a)); }
Tensor where(const Tensor& cond, double a, const Tensor& b) { return where_impl(cond, detail::wrap(a, b), b); }

// y = a.index_select(dim, index); d/da = zeros(a.shape).index_add_(dim, index, dY): a repeated
// index accumulates.
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) {
  const int64_t d = wrap_dim(dim, a.dim());
  check_index_select(a, d, index);
  Shape shape = a.shape();
  if (!shape.empty()) shape[static_cast<size_t>(d)] = index.numel();
  Tensor y = index_select_kernel(a, d, index, std::move(shape));
  record(y, "IndexSelectBackward0", {a}, [d, index, a_shape = a.shape()](const Tensor& g, NeedsGrad) {
    return grads(index_add_into_zeros(a_shape, d, index, g));
  }, Saves::Tensors);
  return y;
}

// y = a.gather(dim, index), of index's shape: y[..., k, ...] = a[..., index[..., k, ...], ...]
// along dim; d/da = zeros(a.shape).scatter_add_(dim, index, dY).
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) {
  const int64_t d = wrap_dim(dim, a.dim());
  check_gather(a, d, index);
  Tensor y = Tensor::empty(index.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pa = a.template data<T>();
    T* po = y.data<T>();
    for_each_gathered(a.shape(), d, index, [&](int64_t k, int64_t at) { po[k] = pa[at]; });
  });
  record(y, "GatherBackward0", {a}, [d, index, a_shape = a.shape()](const Tensor& g, NeedsGrad) {
    return grads(scatter_add_into_zeros(a_shape, d, index, g));
  }, Saves::Tensors);
  return y;
}

// F.embedding(indices, weight): y[k, :] = weight[indices[k], :], of shape indices.shape + (D,);
// d/dweight = embedding_dense_backward(dY): a repeated index accumulates its rows.
Tensor embedding(const Tensor& indices, const Tensor& weight) {
  if (weight.dim() != 2) fail(ErrorKind::Shape, "'weight' must be 2-D");
  if (indices.dtype() != DType::Int64) {
    fail(ErrorKind::DType, "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, "
                           "Int; but got " + torch_tensor_type(indices.dtype()) +
                               " instead (while checking arguments for embedding)");
  }
  const Tensor flat = reshape(indices, {indices.numel()}).detach();
  check_index_select(weight, 0, flat);  // PyTorch selects rows with index_select(0, ...)
  Shape shape = indices.shape();
  shape.push_back(weight.size(1));
  Tensor y = index_select_kernel(weight, 0, flat, {flat.numel(), weight.size(1)});
  y = reshape(y.detach(), shape).detach();
  record(y, "EmbeddingBackward0", {weight}, [flat, rows = weight.size(0)](const Tensor& g, NeedsGrad) {
    return grads(embedding_dense_backward(g, flat, rows));
  }, Saves::Tensors);
  return y;
}

}  // namespace gradoracle
