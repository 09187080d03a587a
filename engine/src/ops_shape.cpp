// Shape ops: copies into contiguous row-major storage, except reshape, which shares it.
// t, transpose and reshape also carry PyTorch's strides (layout.hpp), as PyTorch's views do.
#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

namespace {
// Copies `a` with dims d0 and d1 swapped.
Tensor swap_dims_copy(const Tensor& a, int64_t d0, int64_t d1) {
  Shape out_shape = a.shape();
  std::swap(out_shape[d0], out_shape[d1]);
  // a's row-major strides with d0 and d1 swapped: out's element walk in a (inline, no allocation)
  const size_t r = out_shape.size();
  kernels::Strides in_strides(r), zero(r, 0);
  int64_t stride = 1;
  for (size_t i = r; i-- > 0;) {
    in_strides[i] = stride;
    stride *= a.shape()[i];
  }
  std::swap(in_strides[static_cast<size_t>(d0)], in_strides[static_cast<size_t>(d1)]);
  Tensor out = Tensor::empty(std::move(out_shape), a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pi = a.data<T>();
    T* po = out.data<T>();
    kernels::for_each_row(out.shape(), in_strides, zero, [&](int64_t oi, int64_t, int64_t o, int64_t inner, int64_t si, int64_t) {
      for (int64_t j = 0; j < inner; ++j) po[o + j] = pi[oi + j * si];
    });
  });
  return out;
}

// The PyTorch strides of transpose(a, d0, d1): a's with d0 and d1 swapped.
std::vector<int64_t> swapped_strides(const Tensor& a, int64_t d0, int64_t d1) {
  std::vector<int64_t> s = layout::strides(impl_of(a));
  if (a.dim() >= 2) std::swap(s[static_cast<size_t>(d0)], s[static_cast<size_t>(d1)]);
  return s;
}

// A tensor sharing a's storage under another shape of the same numel.
Tensor alias(const Tensor& a, Shape shape) {
  auto impl = new_impl();
  impl->shape = std::move(shape);
  impl->dtype = a.dtype();
  impl->storage = impl_of(a).storage;
  return tensor_of(std::move(impl));
}
}  // namespace

static int64_t broadcast_mismatch(const Shape& from, const Shape& to);

namespace {
// Copies `count` blocks of `chunk` elements: block o from src + o·src_row + src_off to
// dst + o·dst_row + dst_off (offsets and sizes in elements of `elem` bytes).
void copy_blocks(const Tensor& src, Tensor& dst, int64_t count, int64_t chunk, int64_t src_row, int64_t src_off,
                 int64_t dst_row, int64_t dst_off) {
  const size_t elem = static_cast<size_t>(element_size(src.dtype()));
  const auto* ps = static_cast<const char*>(impl_of(src).storage->raw());
  auto* pd = static_cast<char*>(impl_of(dst).storage->raw());
  for (int64_t o = 0; o < count && chunk > 0; ++o) {
    std::memcpy(pd + (o * dst_row + dst_off) * elem, ps + (o * src_row + src_off) * elem,
                static_cast<size_t>(chunk) * elem);
  }
}

// Products of a shape's dims before and after d.
std::pair<int64_t, int64_t> outer_inner(const Shape& s, int64_t d) {
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= s[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(d) + 1; k < s.size(); ++k) inner *= s[k];
  return {outer, inner};
}

Tensor slice(const Tensor& a, int64_t d, int64_t start, int64_t length);

// PyTorch's slice_backward: zeros of `full` shape with dY in [start, start + length) along d.
// Linear in dY: d/d(dY) = slice(ddY, d, start, length).
Tensor slice_backward(const Tensor& g, const Shape& full, int64_t d, int64_t start) {
  Tensor out = Tensor::zeros(full, g.dtype());
  const auto [outer, inner] = outer_inner(full, d);
  const int64_t length = g.shape()[static_cast<size_t>(d)];
  copy_blocks(g, out, outer, length * inner, length * inner, 0, full[static_cast<size_t>(d)] * inner, start * inner);
  record(out, "SliceBackwardBackward0", {g}, [d, start, length](const Tensor& gg, NeedsGrad) {
    return detail::grads(slice(gg, d, start, length));
  }, Saves::Nothing);
  return out;
}

// a[..., start:start + length, ...] along d (a copy); d/da = slice_backward(dY): dY in place, 0 elsewhere.
Tensor slice(const Tensor& a, int64_t d, int64_t start, int64_t length) {
  Shape shape = a.shape();
  shape[static_cast<size_t>(d)] = length;
  Tensor y = Tensor::empty(shape, a.dtype());
  const auto [outer, inner] = outer_inner(a.shape(), d);
  copy_blocks(a, y, outer, length * inner, a.shape()[static_cast<size_t>(d)] * inner, start * inner, length * inner, 0);
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    record(y, "SliceBackward0", {a}, [full = a.shape(), d, start](const Tensor& g, NeedsGrad) {
      return detail::grads(slice_backward(g, full, d, start));
    }, Saves::Nothing);
  }
  return y;
}
}  // namespace

namespace detail {
Tensor view_as_named(const Tensor& a, const Shape& shape, const char* name) {
  if (numel(shape) != a.numel()) {  // callers pass a shape of a's numel: an engine bug
    fail(ErrorKind::Shape, std::string(name) + ": shape " + to_string(shape) + " is invalid for input of size " +
                               std::to_string(a.numel()));
  }
  Tensor y = alias(a, shape);
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {
    record(y, name, {a}, [in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      return detail::grads(reshape(g, in_shape));
    }, Saves::Nothing);
  }
  return mark_view(y);
}

Tensor sum_to_recorded(const Tensor& a, const Shape& shape) {
  const Shape& s = a.shape();
  if (broadcast_mismatch(shape, s) != -1) {
    fail(ErrorKind::Shape, "sum_to: shape " + to_string(s) + " is not a broadcast of " + to_string(shape));
  }
  if (shape.empty()) return sum(a);  // ATen: a 0-d target is a full sum (SumBackward0)
  const size_t leading = s.size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i < leading || (shape[i - leading] == 1 && s[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  }
  if (dims.empty()) return a;
  const Tensor summed = sum(a, dims, true);
  return leading > 0 ? view_as_named(summed, shape, "ViewBackward0") : summed;
}
}  // namespace detail

// d/da aᵀ = (dY)ᵀ
Tensor t(const Tensor& a) {
  if (a.dim() > 2) {
    fail(ErrorKind::Dim, "t() expects a tensor with <= 2 dimensions, but self is " + std::to_string(a.dim()) + "D");
  }
  Tensor y = a.dim() == 2 ? swap_dims_copy(a, 0, 1) : a.clone();
  layout::set(impl_of(y), swapped_strides(a, 0, 1));
  record(y, "TBackward0", {a}, [](const Tensor& g, NeedsGrad) { return detail::grads(t(g)); }, Saves::Nothing);
  return detail::mark_view(y);
}

// d/da transpose(a, i, j) = transpose(dY, i, j)
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  const int64_t d0 = wrap_dim(dim0, a.dim()), d1 = wrap_dim(dim1, a.dim());
  Tensor y = a.dim() < 2 || d0 == d1 ? a.clone() : swap_dims_copy(a, d0, d1);
  layout::set(impl_of(y), swapped_strides(a, d0, d1));
  record(y, "TransposeBackward0", {a}, [d0, d1](const Tensor& g, NeedsGrad) {
    return detail::grads(transpose(g, d0, d1));
  }, Saves::Nothing);
  return detail::mark_view(y);
}

// d/da reshape(a) = reshape(dY, a.shape)
Tensor reshape(const Tensor& a, const Shape& requested) {
  Shape shape = requested;
  int64_t infer = -1, known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) fail(ErrorKind::Value, "only one dimension can be inferred");
      infer = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      fail(ErrorKind::Value, "invalid shape dimension " + std::to_string(shape[i]));
    } else {
      // known · shape[i] > kMaxElements: check_shape's error for it (raises)
      if (shape[i] != 0 && known > kMaxElements / shape[i]) check_shape(Shape{known, shape[i]}, "reshape");
      known *= shape[i];
    }
  }
  const int64_t n = a.numel();
  const auto invalid = [&] {
    fail(ErrorKind::Shape, "shape '" + to_string(requested) + "' is invalid for input of size " + std::to_string(n));
  };
  if (infer >= 0) {
    if (known == 0 && n != 0) invalid();
    if (known == 0) {
      fail(ErrorKind::Shape, "cannot reshape tensor of 0 elements into shape " + to_string(requested) +
                                 " because the unspecified dimension size -1 can be any value and is ambiguous");
    }
    if (n % known != 0) invalid();
    shape[static_cast<size_t>(infer)] = n / known;
  } else if (known != n) {
    invalid();
  }
  // PyTorch views the input when its strides allow (_reshape_alias), else copies it contiguous
  // (_unsafe_view of a clone): the same values, another grad_fn, and not a view.
  Tensor y = alias(a, std::move(shape));
  std::optional<std::vector<int64_t>> view;
  if (!impl_of(a).torch_strides.empty()) view = layout::view_strides(a.shape(), a.stride(), y.shape());
  if (view) layout::set(impl_of(y), std::move(*view));
  const bool is_view = a.is_contiguous() || view.has_value();
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {  // a's shape captured only for a node
    record(y, is_view ? "ReshapeAliasBackward0" : "UnsafeViewBackward0", {a},
           [in_shape = a.shape()](const Tensor& g, NeedsGrad) { return detail::grads(reshape(g, in_shape)); },
           Saves::Nothing);
  }
  return is_view ? detail::mark_view(y) : y;
}

// The first dim of `to` (right-aligned) that `from` cannot broadcast to: -1 if none, -2 if `from`
// has more dims than `to`.
static int64_t broadcast_mismatch(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return -2;
  for (size_t i = 0; i < from.size(); ++i) {
    const size_t ti = to.size() - from.size() + i;
    if (from[i] != 1 && from[i] != to[ti]) return static_cast<int64_t>(ti);
  }
  return -1;
}

// d/da expand(a) = sum_to(dY, a.shape). Checked as ATen's inferExpandGeometry does: the number of
// sizes, then each dim from the right (-1 keeps a's size, not allowed on a new leading dim; a
// size other than a's needs a's to be 1); a size below -1 (and any -1 on a 0-d tensor) then
// overflows PyTorch 1.13's numel.
Tensor expand(const Tensor& a, const Shape& requested) {
  const auto rank = static_cast<int64_t>(a.shape().size());
  if (static_cast<int64_t>(requested.size()) < rank) {
    const char* type = a.dtype() == DType::Float64 ? "torch.DoubleTensor{" : "torch.FloatTensor{";
    fail(ErrorKind::Shape, "expand(" + std::string(type) + to_string(a.shape()) + "}, size=" + to_string(requested) +
                               "): the number of sizes provided (" + std::to_string(requested.size()) +
                               ") must be greater or equal to the number of dimensions in the tensor (" +
                               std::to_string(rank) + ")");
  }
  const bool negative = std::any_of(requested.begin(), requested.end(), [](int64_t d) { return d < 0; });
  if (rank == 0 && negative) fail(ErrorKind::Value, "numel: integer multiplication overflow");
  Shape shape = requested;
  const auto lead = static_cast<int64_t>(requested.size()) - rank;
  for (auto i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    const int64_t dim = i - lead;
    const int64_t size = dim >= 0 ? a.shape()[static_cast<size_t>(dim)] : 1;
    int64_t& target = shape[static_cast<size_t>(i)];
    if (target == -1) {
      if (dim < 0) {
        fail(ErrorKind::Shape,
             "The expanded size of the tensor (-1) isn't allowed in a leading, non-existing dimension " + std::to_string(i));
      }
      target = size;
    }
    if (size != target && size != 1) {
      fail(ErrorKind::Shape, "The expanded size of the tensor (" + std::to_string(target) +
                                 ") must match the existing size (" + std::to_string(size) +
                                 ") at non-singleton dimension " + std::to_string(i) + ".  Target sizes: " +
                                 to_string(requested) + ".  Tensor sizes: " + to_string(a.shape()));
    }
  }
  if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
    fail(ErrorKind::Value, "numel: integer multiplication overflow");
  }
  check_shape(shape, "expand");
  Tensor y = Tensor::empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto s) { kernels::expand_into<decltype(s)>(a, y); });
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {  // a's shape captured only for a node
    record(y, "ExpandBackward0", {a}, [in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      // Under create_graph, ATen's sum_to (SumBackward1, then ViewBackward0 over leading dims).
      if (detail::needs_graph({&g})) return detail::grads(detail::sum_to_recorded(g, in_shape));
      return detail::grads(sum_to(g, in_shape));
    }, Saves::Nothing);
  }
  layout::set(impl_of(y), layout::expanded_strides(a.shape(), layout::strides(impl_of(a)), y.shape()));
  return detail::mark_view(y);
}

// d/da sum_to(a, s) = expand(dY, a.shape)
Tensor sum_to(const Tensor& a, const Shape& shape) {
  if (a.shape() == shape) return a;
  if (broadcast_mismatch(shape, a.shape()) != -1) {
    fail(ErrorKind::Shape, "sum_to: shape " + to_string(a.shape()) + " is not a broadcast of " + to_string(shape));
  }
  Tensor y = Tensor::empty(shape, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    kernels::sum_into<T>(a, shape, y.data<T>());
  });
  if (any_requires_grad(std::span<const Tensor>(&a, 1))) {  // a's shape captured only for a node
    record(y, "SumToSizeBackward0", {a}, [in_shape = a.shape()](const Tensor& g, NeedsGrad) {
      return detail::grads(expand(g, in_shape));
    }, Saves::Nothing);
  }
  return y;
}

// cat along dim; the gradient of each input is its slice of dY. A 1-D tensor of size 0 is
// skipped, as PyTorch 1.13 skips legacy empty tensors.
Tensor cat(const std::vector<Tensor>& tensors_in, int64_t dim) {
  if (tensors_in.empty()) fail(ErrorKind::Value, "torch.cat(): expected a non-empty list of Tensors");
  DType dtype = tensors_in[0].dtype();
  for (size_t i = 0; i < tensors_in.size(); ++i) {
    if (tensors_in[i].dim() == 0) {
      fail(ErrorKind::Shape, "zero-dimensional tensor (at position " + std::to_string(i) + ") cannot be concatenated");
    }
    dtype = promote(dtype, tensors_in[i].dtype());
  }
  std::vector<Tensor> tensors;
  tensors.reserve(tensors_in.size());
  for (const Tensor& t : tensors_in) tensors.push_back(t.dtype() == dtype ? t : t.to(dtype));
  const auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.numel() == 0; };
  const Tensor* ref = nullptr;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!skipped(tensors[i])) {
      ref = &tensors[i];
      break;
    }
  }
  // NOTE: when every input is a legacy empty tensor PyTorch checks no dim and returns one: shape [0].
  const int64_t d = ref ? wrap_dim(dim, ref->dim()) : 0;
  if (!ref) ref = &tensors[0];
  Shape out_shape = ref->shape();
  out_shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped(t)) continue;
    if (t.dim() != ref->dim()) {
      fail(ErrorKind::Shape, "Tensors must have same number of dimensions: got " + std::to_string(ref->dim()) +
                                 " and " + std::to_string(t.dim()));
    }
    for (int64_t k = 0; k < t.dim(); ++k) {
      if (k != d && t.shape()[k] != ref->shape()[k]) {
        fail(ErrorKind::Shape, "Sizes of tensors must match except in dimension " + std::to_string(d) +
                                   ". Expected size " + std::to_string(ref->shape()[k]) + " but got size " +
                                   std::to_string(t.shape()[k]) + " for tensor number " + std::to_string(i) +
                                   " in the list.");
      }
    }
    out_shape[d] += t.shape()[d];
  }
  check_shape(out_shape, "cat");
  Tensor y = Tensor::empty(out_shape, dtype);
  int64_t outer = 1, inner = 1;  // products of the dims before and after d
  for (int64_t k = 0; k < d; ++k) outer *= out_shape[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(d) + 1; k < out_shape.size(); ++k) inner *= out_shape[k];
  const int64_t row = out_shape[d] * inner;
  const size_t elem = static_cast<size_t>(element_size(dtype));
  std::vector<int64_t> offsets;  // each input's first column in a row of y
  offsets.reserve(tensors.size());
  int64_t offset = 0;
  auto* po = static_cast<char*>(impl_of(y).storage->raw());
  for (const Tensor& t : tensors) {
    offsets.push_back(offset);
    if (skipped(t)) continue;
    const int64_t chunk = t.shape()[d] * inner;
    const auto* pi = static_cast<const char*>(impl_of(t).storage->raw());
    for (int64_t o = 0; o < outer && chunk > 0; ++o) {
      std::memcpy(po + (o * row + offset) * elem, pi + o * chunk * elem, static_cast<size_t>(chunk) * elem);
    }
    offset += chunk;
  }
  if (!any_requires_grad(tensors)) return y;  // the backward's shapes and offsets only for a node
  std::vector<Shape> shapes;
  for (const Tensor& t : tensors) shapes.push_back(t.shape());
  record(y, "CatBackward0", tensors, [shapes, offsets, outer, row, inner, d](const Tensor& g, NeedsGrad needs) {
    std::vector<Tensor> grads(shapes.size());
    if (detail::needs_graph({&g})) {  // each input's slice of dY along d, recorded (SliceBackward0)
      for (size_t i = 0; i < shapes.size(); ++i) {
        if (!needs[i]) continue;
        const bool legacy_empty = shapes[i].size() == 1 && shapes[i][0] == 0;
        grads[i] = legacy_empty ? Tensor::zeros(shapes[i], g.dtype())
                                : slice(g, d, inner == 0 ? 0 : offsets[i] / inner, shapes[i][d]);
      }
      return grads;
    }
    const size_t elem = static_cast<size_t>(element_size(g.dtype()));
    const auto* pg = static_cast<const char*>(impl_of(g).storage->raw());
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (!needs[i]) continue;
      grads[i] = Tensor::zeros(shapes[i], g.dtype());
      if (shapes[i].size() == 1 && shapes[i][0] == 0) continue;
      const int64_t chunk = shapes[i][d] * inner;
      auto* pi = static_cast<char*>(impl_of(grads[i]).storage->raw());
      for (int64_t o = 0; o < outer && chunk > 0; ++o) {
        std::memcpy(pi + o * chunk * elem, pg + (o * row + offsets[i]) * elem, static_cast<size_t>(chunk) * elem);
      }
    }
    return grads;
  }, Saves::Nothing);
  return y;
}

}  // namespace gradoracle
