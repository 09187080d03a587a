#pragma once
// Shapes, dims and broadcasting, as torch.Size and PyTorch's dim wrapping define them.
#include <cstdint>
#include <string>
#include <vector>

namespace gradoracle {

using Shape = std::vector<int64_t>;

// Number of elements: the product of the dims (1 for a 0-d shape).
int64_t numel(const Shape& shape);
// Row-major strides in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);
// "[2, 3]", as torch.Size prints its list.
std::string to_string(const Shape& shape);
// Wraps a possibly negative dim into [0, rank); throws PyTorch's IndexError message otherwise.
// A 0-d tensor accepts dims -1 and 0, as in PyTorch.
int64_t wrap_dim(int64_t dim, int64_t rank);
// PyTorch's broadcast of two shapes, or an Error naming both at the failing dim.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Checks that `shape` is a valid tensor shape: non-negative dims, at most kMaxElements.
void check_shape(const Shape& shape, const char* what);

// The largest tensor the engine will allocate, in elements; larger requests are refused.
inline constexpr int64_t kMaxElements = int64_t{1} << 31;

}  // namespace gradoracle
