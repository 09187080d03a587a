#include "layout.hpp"

#include <algorithm>
#include <numeric>
#include "tensor_access.hpp"

namespace gradoracle::layout {

std::vector<int64_t> default_strides(const Shape& shape) {
  std::vector<int64_t> out(shape.size());
  int64_t stride = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    out[d] = stride;
    stride *= std::max<int64_t>(shape[d], 1);
  }
  return out;
}

std::vector<int64_t> strides(const TensorImpl& t) {
  return t.torch_strides.empty() ? default_strides(t.shape) : t.torch_strides;
}

bool is_contiguous(const Shape& shape, const std::vector<int64_t>& strides) {
  if (numel(shape) == 0) return true;
  int64_t expected = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

bool is_contiguous(const TensorImpl& t) { return t.torch_strides.empty() || is_contiguous(t.shape, t.torch_strides); }

bool is_non_overlapping_and_dense(const Shape& shape, const std::vector<int64_t>& strides) {
  if (shape.size() == 1) return shape[0] < 2 || strides[0] == 1;
  std::vector<size_t> perm(shape.size());
  std::iota(perm.begin(), perm.end(), size_t{0});
  std::sort(perm.begin(), perm.end(), [&](size_t a, size_t b) {
    if (shape[a] < 2) return false;
    if (shape[b] < 2) return true;
    return strides[a] < strides[b];
  });
  int64_t required = 1;
  for (size_t d : perm) {
    if (shape[d] < 2) return true;
    if (strides[d] != required) return false;
    required *= shape[d];
  }
  return true;
}

void set(TensorImpl& t, std::vector<int64_t> strides) {
  if (strides == default_strides(t.shape)) {
    t.torch_strides.clear();
  } else {
    t.torch_strides = std::move(strides);
  }
}

// Splits the old dims into chunks that are contiguous among themselves; a view exists when the
// new dims, read from the right, fill each chunk exactly (size-1 dims fit anywhere).
std::optional<std::vector<int64_t>> view_strides(const Shape& shape, const std::vector<int64_t>& strides,
                                                 const Shape& new_shape) {
  if (shape.empty()) return std::vector<int64_t>(new_shape.size(), 1);
  const int64_t n = numel(shape);
  if (n == 0 && shape == new_shape) return strides;
  std::vector<int64_t> out(new_shape.size());
  if (n == 0) {
    int64_t stride = 1;
    for (size_t d = new_shape.size(); d-- > 0;) {
      out[d] = stride;
      stride *= std::max<int64_t>(new_shape[d], 1);
    }
    return out;
  }
  auto view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_base_stride = strides.back(), tensor_numel = 1, view_numel = 1;
  for (auto d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    const bool chunk_ends = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

std::vector<int64_t> expanded_strides(const Shape& shape, const std::vector<int64_t>& strides, const Shape& out_shape) {
  const size_t n = out_shape.size(), lead = n - shape.size();
  std::vector<int64_t> out(n, 0);
  if (shape.empty()) return out;
  for (size_t i = n; i-- > 0;) {
    if (i >= lead) {
      out[i] = shape[i - lead] == out_shape[i] ? strides[i - lead] : 0;
    } else {
      out[i] = out_shape[i] == 1 ? out_shape[i + 1] * out[i + 1] : 0;
    }
  }
  return out;
}

std::vector<int64_t> elementwise(const Shape& out_shape, std::initializer_list<const TensorImpl*> inputs) {
  const size_t nd = out_shape.size();
  // Each input's strides over the output's dims: 0 where it broadcasts or lacks the dim.
  std::vector<std::vector<int64_t>> op_strides;
  // TensorIterator's fast setup, for inputs of the output's shape: all contiguous gives the
  // default strides, all of the same strides keeps them.
  bool same_shapes = true, all_contiguous = true, all_same = true;
  for (const TensorImpl* in : inputs) {
    const std::vector<int64_t> s = strides(*in);
    same_shapes = same_shapes && in->shape == out_shape;
    all_contiguous = all_contiguous && is_contiguous(in->shape, s);
    all_same = all_same && is_non_overlapping_and_dense(in->shape, s) && (op_strides.empty() || s == op_strides.front());
    std::vector<int64_t> full(nd, 0);
    const size_t offset = nd - in->shape.size();
    for (size_t i = 0; i < in->shape.size(); ++i) {
      full[offset + i] = (in->shape[i] == 1 && out_shape[offset + i] != 1) ? 0 : s[i];
    }
    op_strides.push_back(std::move(full));
  }
  if (same_shapes && all_contiguous) return default_strides(out_shape);
  if (same_shapes && all_same && !op_strides.empty()) return op_strides.front();
  if (nd <= 1) return default_strides(out_shape);
  // perm[0] is the fastest-moving dim; start from row-major order and insertion-sort.
  std::vector<size_t> perm(nd);
  std::iota(perm.rbegin(), perm.rend(), size_t{0});
  // 1: dim0 should move after dim1, -1: it should not, 0: no input tells.
  const auto should_swap = [&](size_t dim0, size_t dim1) {
    for (const auto& s : op_strides) {
      if (s[dim0] == 0 || s[dim1] == 0) continue;
      if (s[dim0] < s[dim1]) return -1;
      if (s[dim0] > s[dim1]) return 1;
      if (out_shape[dim0] > out_shape[dim1]) return 1;
    }
    return 0;
  };
  for (size_t i = 1; i < nd; ++i) {
    size_t dim1 = i;
    for (size_t dim0 = i; dim0-- > 0;) {
      const int c = should_swap(perm[dim0], perm[dim1]);
      if (c > 0) {
        std::swap(perm[dim0], perm[dim1]);
        dim1 = dim0;
      } else if (c < 0) {
        break;
      }
    }
  }
  // An unchanged order gives a fresh tensor; another, the sizes' products in that order.
  bool unchanged = true;
  for (size_t i = 0; i < nd; ++i) unchanged = unchanged && perm[i] == nd - 1 - i;
  if (unchanged) return default_strides(out_shape);
  std::vector<int64_t> out(nd);
  int64_t stride = 1;
  for (size_t i = 0; i < nd; ++i) {
    out[perm[i]] = stride;
    stride *= out_shape[perm[i]];
  }
  return out;
}

void follow(const Tensor& out, const Tensor& a) {
  if (impl_of(a).torch_strides.empty()) return;  // an input of default strides gives a fresh output
  set(impl_of(out), elementwise(out.shape(), {&impl_of(a)}));
}

void follow(const Tensor& out, const Tensor& a, const Tensor& b) {
  if (impl_of(a).torch_strides.empty() && impl_of(b).torch_strides.empty()) return;
  set(impl_of(out), elementwise(out.shape(), {&impl_of(a), &impl_of(b)}));
}

}  // namespace gradoracle::layout
