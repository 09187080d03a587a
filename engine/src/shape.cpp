#include "gradoracle/engine/shape.hpp"

#include <sstream>

#include "gradoracle/engine/error.hpp"

namespace gradoracle {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

std::string to_string(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

int64_t wrap_dim(int64_t dim, int64_t rank) {
  const int64_t r = rank == 0 ? 1 : rank;  // PyTorch lets a 0-d tensor take dim 0 and -1
  if (dim < -r || dim >= r) {
    fail(ErrorKind::Dim, "Dimension out of range (expected to be in range of [" + std::to_string(-r) + ", " +
                             std::to_string(r - 1) + "], but got " + std::to_string(dim) + ")");
  }
  return dim < 0 ? dim + r : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      fail(ErrorKind::Shape, "The size of tensor a (" + std::to_string(da) + ") must match the size of tensor b (" +
                                 std::to_string(db) + ") at non-singleton dimension " + std::to_string(i));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_shape(const Shape& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      fail(ErrorKind::Value, std::string(what) + ": negative dimension " + std::to_string(d) + " in shape " +
                                 to_string(shape));
    }
    if (d != 0 && n > kMaxElements / d) {
      fail(ErrorKind::Value, std::string(what) + ": shape " + to_string(shape) + " has more than " +
                                 std::to_string(kMaxElements) + " elements");
    }
    n *= d;
  }
}

}  // namespace gradoracle
