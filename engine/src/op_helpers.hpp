#pragma once
// Internal helpers shared by the op implementations.
#include <memory>
#include <string>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "kernels.hpp"
#include "layout.hpp"
#include "tensor_access.hpp"

namespace gradoracle::detail {

// out = f(A) where A is `a` as an Eigen array and f returns an array expression; out has a's
// PyTorch layout, as an elementwise op's result in PyTorch.
template <class F>
Tensor map(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    kernels::array<T>(out) = f(kernels::carray<T>(a));
  });
  layout::follow(out, a);
  return out;
}

// An op's own result, saved for its backward (PyTorch saves some results, e.g. tanh's).
// Saving the result tensor would make a cycle (result -> grad_fn -> saved result) and a
// detach() costs a TensorImpl and a shape; this keeps only the storage. Its shape and dtype are
// those of the gradient the node receives: the engine hands every node a gradient of its
// output's shape and dtype.
class SavedOutput {
 public:
  explicit SavedOutput(const Tensor& result) : storage_(impl_of(result).storage) {}
  template <class T>
  const T* data() const {
    if (dtype_of<T>::value != storage_->dtype()) {
      fail(ErrorKind::DType, std::string("expected a ") + name(dtype_of<T>::value) + " tensor but got " +
                                 name(storage_->dtype()));
    }
    return static_cast<const T*>(storage_->raw());
  }
  // The result as a tensor of `like`'s shape and dtype (the node's upstream). Under
  // create_graph it has the running node as its grad_fn, as PyTorch unpacks a saved output,
  // so a formula built from it differentiates through the op again.
  Tensor tensor(const Tensor& like) const {
    auto impl = new_impl();
    impl->shape = like.shape();
    impl->dtype = like.dtype();
    impl->storage = storage_;
    if (creating_graph()) {
      impl->grad_fn = current_node_owner();
      impl->requires_grad = true;
    }
    return tensor_of(std::move(impl));
  }

 private:
  std::shared_ptr<Storage> storage_;
};

// out = f(A, B) for a tensor `a` and `b` of a's shape and dtype (a gradient and a saved tensor
// or SavedOutput).
template <class B, class F>
Tensor zip(const Tensor& a, const B& b, F f) {
  Tensor out = Tensor::empty(a.shape(), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const kernels::ConstArrayMap<T> b_values(b.template data<T>(), a.numel());
    kernels::array<T>(out) = f(kernels::carray<T>(a), b_values);
  });
  return out;
}

// out = f(a, b) elementwise with broadcasting; f is a scalar functor; a and b share a dtype.
// out's PyTorch layout is TensorIterator's for (a, b).
template <class F>
Tensor broadcast_zip(const Tensor& a, const Tensor& b, F f) {
  Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape()), a.dtype());
  dispatch(a.dtype(), [&](auto s) { kernels::binary<decltype(s)>(a, b, out, f); });
  layout::follow(out, a, b);
  return out;
}

// A Python number as a 0-d tensor of `like`'s dtype (a wrapped number: no type promotion).
inline Tensor wrap(double value, const Tensor& like) { return Tensor::scalar(value, like.dtype()); }

// The dtype PyTorch's type promotion gives a and b: the wider one, except that a 0-d tensor
// does not widen a dimensioned one (float32 (3,) + float64 0-d is float32), as in PyTorch.
inline DType result_dtype(const Tensor& a, const Tensor& b) {
  if (a.dim() == 0 && b.dim() > 0) return b.dtype();
  if (b.dim() == 0 && a.dim() > 0) return a.dtype();
  return promote(a.dtype(), b.dtype());
}

// Brings both operands to their promoted dtype (a differentiable cast where needed).
inline void promote_pair(Tensor& a, Tensor& b) {
  const DType d = result_dtype(a, b);
  if (a.dtype() != d) a = a.to(d);
  if (b.dtype() != d) b = b.to(d);
}

// PyTorch's name of a scalar type, as its messages print it ("expected scalar type Long but found Double").
inline const char* torch_scalar_type(DType d) {
  switch (d) {
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
    case DType::Int64: return "Long";
    case DType::Bool: return "Bool";
  }
  return "?";
}

// PyTorch's mm/addmm do not promote: mixed dtypes raise "expected scalar type Float but found Double".
inline void require_same_dtype(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    fail(ErrorKind::DType, std::string("expected scalar type ") + torch_scalar_type(a.dtype()) + " but found " +
                               torch_scalar_type(b.dtype()));
  }
}

// Marks `t` as a view (PyTorch's reshape, t, transpose): detach_() refuses it.
inline Tensor& mark_view(Tensor& t) {
  impl_of(t).is_view = true;
  return t;
}

inline std::vector<Tensor> grads(Tensor g) { return {std::move(g)}; }

// PyTorch's sigmoid_backward(g, y) = g·y·(1 - y) as a recorded op (SigmoidBackwardBackward0),
// differentiable in g and y (ops_elementwise.cpp); softplus's double backward builds on it.
Tensor sigmoid_backward(const Tensor& g, const Tensor& y);

// Differentiable internal shape ops (ops_shape.cpp) that formulas under create_graph build from.
// a under another shape of its numel, sharing storage, recorded as PyTorch's view op `name`
// (a string literal: "ViewBackward0", "SqueezeBackward1", ...); d/da = reshape(dY, a.shape).
Tensor view_as_named(const Tensor& a, const Shape& shape, const char* name);
// ATen's at::sum_to: a summed with keepdim over its leading dims and the dims `shape` has as 1
// (SumBackward1), then viewed as `shape` when leading dims went (ViewBackward0); a itself when
// nothing is summed; for a 0-d `shape`, a's full sum (SumBackward0). The gradient reduction
// PyTorch's backward formulas and its engine's validate_outputs record.
Tensor sum_to_recorded(const Tensor& a, const Shape& shape);

// Reductions' dims (ops_reduce.cpp): the reduced dims of `a` as a mask (empty `dims`: all),
// refused as PyTorch 1.13 refuses them (a dim out of range, a dim given twice); the shape with
// the reduced dims kept as 1; the result's shape.
std::vector<bool> reduced_mask(const Tensor& a, const std::vector<int64_t>& dims);
Shape kept_shape(const Shape& s, const std::vector<bool>& mask);
Shape result_shape(const Shape& s, const std::vector<bool>& mask, bool keepdim);

// a viewed as (outer, n, inner) around dim d (a 0-d tensor: one line of one element): the
// lines a dim-wise op (softmax, cumsum, var, max(dim), ...) walks.
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Lines lines_around(const Shape& s, int64_t d) {
  Lines v;
  if (s.empty()) return v;
  v.n = s[static_cast<size_t>(d)];
  for (int64_t k = 0; k < d; ++k) v.outer *= s[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(d) + 1; k < s.size(); ++k) v.inner *= s[k];
  return v;
}
// f(offset, stride) for each line along the dim: its first element and its elements' stride.
template <class F>
void for_each_line(const Lines& v, F f) {
  for (int64_t o = 0; o < v.outer; ++o) {
    for (int64_t i = 0; i < v.inner; ++i) f(o * v.n * v.inner + i, v.inner);
  }
}

}  // namespace gradoracle::detail
