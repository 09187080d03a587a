// View ops: unsqueeze, squeeze and permute. The engine's storage stays row-major: unsqueeze and
// squeeze share it (the elements keep their order), permute copies. Each result carries the
// strides PyTorch's view would have (layout.hpp) and is a view, as in PyTorch.
#include <algorithm>
#include <utility>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

namespace {
// A view of a's storage under `shape` (of a's numel) with PyTorch strides `strides`.
Tensor view_of(const Tensor& a, Shape shape, std::vector<int64_t> strides) {
  auto impl = new_impl();
  impl->shape = std::move(shape);
  impl->dtype = a.dtype();
  impl->storage = impl_of(a).storage;
  layout::set(*impl, std::move(strides));
  impl->is_view = true;
  return tensor_of(std::move(impl));
}

// A view of g (a gradient) as `shape`, recording nothing: the first-order backward of a view
// op whose result has g's elements in g's order.
Tensor regrid(const Tensor& g, const Shape& shape) { return view_of(g, shape, layout::default_strides(shape)); }
}  // namespace

// y = a with a dim of size 1 inserted at `dim` (in [-rank - 1, rank]); d/da = squeeze(dY, dim).
// PyTorch's stride there: 1 at the end, else size · stride of the dim it goes before.
Tensor unsqueeze(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim() + 1);
  const auto at = static_cast<size_t>(d);
  Shape shape = a.shape();
  std::vector<int64_t> strides = layout::strides(impl_of(a));
  const int64_t stride = at >= shape.size() ? 1 : shape[at] * strides[at];
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  Tensor y = view_of(a, std::move(shape), std::move(strides));
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    record(y, "UnsqueezeBackward0", {a}, [d, in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      if (detail::needs_graph({&g})) return detail::grads(squeeze(g, d));  // SqueezeBackward1
      return detail::grads(regrid(g, in_shape));
    }, Saves::Nothing);
  }
  return y;
}

// y = a without its dims of size 1; d/da = dY with each of them unsqueezed back, in order
// (PyTorch's unsqueeze_to: UnsqueezeBackward0 per dim, dY itself when there are none).
Tensor squeeze(const Tensor& a) {
  Shape shape;
  std::vector<int64_t> strides;
  const std::vector<int64_t> in_strides = layout::strides(impl_of(a));
  for (size_t i = 0; i < a.shape().size(); ++i) {
    if (a.shape()[i] == 1) continue;
    shape.push_back(a.shape()[i]);
    strides.push_back(in_strides[i]);
  }
  Tensor y = view_of(a, std::move(shape), std::move(strides));
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    record(y, "SqueezeBackward0", {a}, [in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      if (g.shape() == in_shape) return detail::grads(g);  // nothing was squeezed: dY itself
      if (!detail::needs_graph({&g})) return detail::grads(regrid(g, in_shape));
      Tensor out = g;
      for (size_t i = 0; i < in_shape.size(); ++i) {
        if (in_shape[i] == 1) out = unsqueeze(out, static_cast<int64_t>(i));
      }
      return detail::grads(out);
    }, Saves::Nothing);
  }
  return y;
}

// y = a without dim `dim` when its size is 1, else a view of a as it is (PyTorch 1.13);
// d/da = unsqueeze(dY, dim) when a dim went, else dY.
Tensor squeeze(const Tensor& a, int64_t dim) {
  const int64_t d = wrap_dim(dim, a.dim());
  Shape shape = a.shape();
  std::vector<int64_t> strides = layout::strides(impl_of(a));
  const bool drops = a.dim() > 0 && shape[static_cast<size_t>(d)] == 1;
  if (drops) {
    shape.erase(shape.begin() + d);
    strides.erase(strides.begin() + d);
  }
  Tensor y = view_of(a, std::move(shape), std::move(strides));
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    record(y, "SqueezeBackward1", {a}, [d, drops, in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      if (!drops) return detail::grads(g);
      if (detail::needs_graph({&g})) return detail::grads(unsqueeze(g, d));
      return detail::grads(regrid(g, in_shape));
    }, Saves::Nothing);
  }
  return y;
}

// y = a with its dims reordered: y's dim i is a's dim dims[i]; d/da = permute(dY, dims⁻¹).
// PyTorch checks the length first, then each dim in order (its range, then a repeat).
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  const int64_t rank = a.dim();
  if (static_cast<int64_t>(dims.size()) != rank) {
    fail(ErrorKind::Dim,
         "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
         "ordering of dimensions i.e. input.dim() = " +
             std::to_string(rank) + " is not equal to len(dims) = " + std::to_string(dims.size()));
  }
  const auto r = static_cast<size_t>(rank);
  std::vector<size_t> perm(r);
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < r; ++i) {
    const auto d = static_cast<size_t>(wrap_dim(dims[i], rank));
    if (seen[d]) fail(ErrorKind::Dim, "permute(): duplicate dims are not allowed.");
    seen[d] = true;
    perm[i] = d;
  }
  const std::vector<int64_t> row_major = layout::default_strides(a.shape());
  const std::vector<int64_t> torch_strides = layout::strides(impl_of(a));
  Shape shape(r);
  std::vector<int64_t> strides(r);
  kernels::Strides walk(r), zero(r, 0);  // y's element walk in a's row-major storage
  for (size_t i = 0; i < r; ++i) {
    shape[i] = a.shape()[perm[i]];
    strides[i] = torch_strides[perm[i]];
    walk[i] = row_major[perm[i]];
  }
  Tensor y = Tensor::empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pi = a.data<T>();
    T* po = y.data<T>();
    kernels::for_each_row(y.shape(), walk, zero, [&](int64_t ai, int64_t, int64_t o, int64_t inner, int64_t si, int64_t) {
      for (int64_t j = 0; j < inner; ++j) po[o + j] = pi[ai + j * si];
    });
  });
  layout::set(impl_of(y), std::move(strides));
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    std::vector<int64_t> inverse(r);
    for (size_t i = 0; i < r; ++i) inverse[perm[i]] = static_cast<int64_t>(i);
    record(y, "PermuteBackward0", {a}, [inverse = std::move(inverse)](const Tensor& g, NeedsGrad) {
      return detail::grads(permute(g, inverse));
    }, Saves::Nothing);
  }
  return detail::mark_view(y);
}

}  // namespace gradoracle
