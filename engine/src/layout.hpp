#pragma once
// PyTorch's memory layout, modelled. The engine's storage is always row-major; PyTorch's is not
// (t() and transpose() are strided views, elementwise results follow their inputs' order), and
// the layout decides some grad_fn names and view-ness: reshape is ReshapeAliasBackward0 (a view)
// when PyTorch can view the input, else UnsafeViewBackward0 (a copy); linear on a 3-D input
// with a bias is ViewBackward0 only when the input is contiguous. TensorImpl::torch_strides
// holds the strides PyTorch would have, empty when they are the contiguous ones.
#include <optional>
#include <vector>

#include "gradoracle/engine/tensor.hpp"

namespace gradoracle::layout {

// The tensor's PyTorch strides (contiguous ones when it holds none).
std::vector<int64_t> strides(const TensorImpl& t);
// torch's is_contiguous(): dims of size 1 are ignored; an empty tensor is contiguous.
bool is_contiguous(const Shape& shape, const std::vector<int64_t>& strides);
// Stores `strides` on `t`, or nothing when they are contiguous.
void set(TensorImpl& t, std::vector<int64_t> strides);
// ATen's computeStride: the strides of a view of (shape, strides) as new_shape, if one exists.
std::optional<std::vector<int64_t>> view_strides(const Shape& shape, const std::vector<int64_t>& strides,
                                                 const Shape& new_shape);
// TensorIterator's output layout for an elementwise op over `inputs` (broadcast to `out_shape`):
// dims ordered by the first input whose strides tell them apart, broadcast dims ignored.
std::vector<int64_t> elementwise(const Shape& out_shape, std::initializer_list<const TensorImpl*> inputs);
// Gives `out` the layout TensorIterator would give it (a no-op when every input is contiguous).
void follow(const Tensor& out, const Tensor& a);
void follow(const Tensor& out, const Tensor& a, const Tensor& b);

}  // namespace gradoracle::layout
