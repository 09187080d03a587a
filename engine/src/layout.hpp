#pragma once
// PyTorch's memory layout, modelled. The engine's storage is always row-major; PyTorch's is not
// (t() and transpose() are strided views, elementwise results follow their inputs' order), and
// the layout decides some grad_fn names and view-ness: reshape is ReshapeAliasBackward0 (a view)
// when PyTorch can view the input, else UnsafeViewBackward0 (a copy); linear on a 3-D input
// with a bias is ViewBackward0 only when the input is contiguous, and 2-D @ 3-D matmul folds or
// not by the 3-D operand's strides. TensorImpl::torch_strides holds the strides PyTorch would
// have, exactly (size-1 dims included), empty when they are those of a fresh tensor.
#include <optional>
#include <vector>

#include "gradoracle/engine/tensor.hpp"
#include "tensor_access.hpp"

namespace gradoracle::layout {

// The strides of a fresh tensor (at::empty): stride[d] = prod over j > d of max(shape[j], 1).
std::vector<int64_t> default_strides(const Shape& shape);
// The tensor's PyTorch strides (default ones when it holds none).
std::vector<int64_t> strides(const TensorImpl& t);
// torch's is_contiguous(): dims of size 1 are ignored; an empty tensor is contiguous.
bool is_contiguous(const Shape& shape, const std::vector<int64_t>& strides);
bool is_contiguous(const TensorImpl& t);
// ATen's is_non_overlapping_and_dense: the strides, sorted (dims of size < 2 last), are those of
// a fresh tensor of the sorted sizes (an expanded tensor's stride 0 is not).
bool is_non_overlapping_and_dense(const Shape& shape, const std::vector<int64_t>& strides);
// Stores `strides` on `t`, or nothing when they are the default ones.
void set(TensorImpl& t, std::vector<int64_t> strides);
// ATen's computeStride: the strides of a view of (shape, strides) as new_shape, if one exists.
std::optional<std::vector<int64_t>> view_strides(const Shape& shape, const std::vector<int64_t>& strides,
                                                 const Shape& new_shape);
// ATen's inferExpandGeometry: the strides of (shape, strides) expanded to `out_shape` (a valid
// broadcast): 0 along expanded dims; a new leading dim of size 1 gets size · stride of the dim
// after it; a 0-d tensor's expansion has only 0 strides (PyTorch 1.13).
std::vector<int64_t> expanded_strides(const Shape& shape, const std::vector<int64_t>& strides, const Shape& out_shape);
// TensorIterator's output layout for an elementwise op over `inputs` (broadcast to `out_shape`):
// default strides when every input has out_shape and is contiguous, the inputs' strides when
// they all have out_shape and the same strides and are non-overlapping and dense, else dims ordered by the first input whose
// strides tell them apart, broadcast dims ignored.
std::vector<int64_t> elementwise(const Shape& out_shape, std::initializer_list<const TensorImpl*> inputs);
// Gives `out` the layout TensorIterator would give it (a no-op when every input is contiguous).
void follow(const Tensor& out, const Tensor& a);
void follow(const Tensor& out, const Tensor& a, const Tensor& b);

}  // namespace gradoracle::layout
