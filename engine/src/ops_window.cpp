// Windows: max_pool2d. PyTorch 1.13's CPU kernel scans each window row by row and keeps a new
// value when it is greater than the best so far or NaN (padding, -inf, is never read), so the
// gradient goes to the first maximum in row-major window order, to the last NaN in a window
// holding NaNs, and to the window's first in-bounds element when every value is -inf. Windows
// overlap when stride < kernel: an element that is the maximum of several windows collects each
// window's gradient (MaxPool2DWithIndicesBackward0, an index scatter-add).
// Under create_graph the scatter-add is recorded as MaxPool2DWithIndicesBackwardBackward0, linear
// in g with x's indices as constants; its backward gathers gg at the indices and views the
// result (ViewBackward0, as PyTorch's max_pool_double_backward), whose backward is the scatter-add.
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>

#include "op_helpers.hpp"

namespace gradoracle {

using detail::grads;

namespace {

// The argmax of each output element: a flat index into the input, shared by both directions.
struct Routes {
  Shape in_shape, out_shape;
  std::vector<int64_t> index;  // per output element
};
using RoutesPtr = std::shared_ptr<const Routes>;

Tensor gather_routes(const Tensor& gg, const RoutesPtr& r);

// b_i = sum of g_o over the outputs o whose argmax is i. With x (max_pool2d's input, first order
// only) the recorded node also takes x, as PyTorch's max_pool2d_with_indices_backward(g, self):
// under create_graph its result has a graph when x requires grad even if g does not, and its
// gradient in x is zeros.
Tensor scatter_routes(const Tensor& g, const RoutesPtr& r, const Tensor& x = Tensor()) {
  Tensor b = Tensor::zeros(r->in_shape, g.dtype());
  dispatch(g.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = g.data<T>();
    T* pb = b.data<T>();
    for (size_t o = 0; o < r->index.size(); ++o) pb[r->index[o]] += pg[o];
  });
  if (x.defined() && detail::needs_graph({&g, &x})) {
    record(b, "MaxPool2DWithIndicesBackwardBackward0", {g, x}, [r](const Tensor& gg, NeedsGrad needs) {
      return std::vector<Tensor>{needs[0] ? gather_routes(gg, r) : Tensor(),
                                 needs[1] ? Tensor::zeros(r->in_shape, gg.dtype()) : Tensor()};
    });
  } else if (detail::needs_graph({&g})) {
    record(b, "MaxPool2DWithIndicesBackwardBackward0", {g},
           [r](const Tensor& gg, NeedsGrad) { return grads(gather_routes(gg, r)); });
  }
  return b;
}

// c_o = gg at o's argmax.
Tensor gather_routes(const Tensor& gg, const RoutesPtr& r) {
  Tensor c = Tensor::empty(r->out_shape, gg.dtype());
  dispatch(gg.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pg = gg.data<T>();
    T* pc = c.data<T>();
    for (size_t o = 0; o < r->index.size(); ++o) pc[o] = pg[r->index[o]];
  });
  if (detail::needs_graph({&gg})) {
    record(c, "ViewBackward0", {gg}, [r](const Tensor& h, NeedsGrad) { return grads(scatter_routes(h, r)); });
  }
  return c;
}

// One int or a pair, as PyTorch's IntArrayRef of 1 or 2 (0 for an omitted stride).
std::string shape_text(const Shape& s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

// ATen's div_rtn: division rounding towards negative infinity.
int64_t div_floor(int64_t a, int64_t b) {
  const int64_t q = a / b, r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? q - 1 : q;
}

// ATen's pooling_output_shape (dilation 1, no ceil mode), with its checks.
int64_t output_size(int64_t in, int64_t k, int64_t pad, int64_t stride) {
  if (stride == 0) fail(ErrorKind::Value, "stride should not be zero");
  if (pad < 0) fail(ErrorKind::Value, "pad must be non-negative, but got pad: " + std::to_string(pad));
  if (pad > k / 2) {  // ((k - 1) + 1) / 2 in C++'s truncating division
    fail(ErrorKind::Value, "pad should be at most half of kernel size, but got pad=" + std::to_string(pad) +
                               " and kernel_size=" + std::to_string(k));
  }
  return div_floor(in + 2 * pad - (k - 1) - 1, stride) + 1;
}

}  // namespace

// NOTE: the checks run in the order of PyTorch 1.13's max_pool2d_with_indices meta function:
// the attrs' lengths, the rank, each dim's output size (height, then width), then
// pool2d_shape_check (kernel, stride, zero-size dims, the output size).
Tensor max_pool2d(const Tensor& a, const std::vector<int64_t>& kernel_size, const std::vector<int64_t>& stride,
                  const std::vector<int64_t>& padding) {
  if (kernel_size.size() != 1 && kernel_size.size() != 2) {
    fail(ErrorKind::Value, "max_pool2d: kernel_size must either be a single int, or a tuple of two ints");
  }
  const int64_t kh = kernel_size[0], kw = kernel_size.back();
  if (stride.size() > 2) {
    fail(ErrorKind::Value, "max_pool2d: stride must either be omitted, a single int, or a tuple of two ints");
  }
  const int64_t dh = stride.empty() ? kh : stride[0], dw = stride.empty() ? kw : stride.back();
  if (padding.size() != 1 && padding.size() != 2) {
    fail(ErrorKind::Value, "max_pool2d: padding must be either be a single int, or a tuple of two ints");
  }
  const int64_t ph = padding[0], pw = padding.back();
  if (a.dim() != 3 && a.dim() != 4) fail(ErrorKind::Shape, "non-empty 3D or 4D (batch mode) tensor expected for input");
  const Shape& s = a.shape();
  const size_t r = s.size();
  const int64_t planes = s[r - 3], h = s[r - 2], w = s[r - 1];
  const int64_t oh = output_size(h, kh, ph, dh), ow = output_size(w, kw, pw, dw);
  if (kh <= 0 || kw <= 0) {
    fail(ErrorKind::Value, "kernel size should be greater than zero, but got kH: " + std::to_string(kh) +
                               " kW: " + std::to_string(kw));
  }
  if (dh <= 0 || dw <= 0) {
    fail(ErrorKind::Value, "stride should be greater than zero, but got dH: " + std::to_string(dh) +
                               " dW: " + std::to_string(dw));
  }
  if (s[r - 3] == 0 || h == 0 || w == 0 || (r == 3 && s[0] == 0)) {
    fail(ErrorKind::Shape,
         "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:" + shape_text(s));
  }
  if (oh < 1 || ow < 1) {
    fail(ErrorKind::Shape, "Given input size: (" + std::to_string(planes) + "x" + std::to_string(h) + "x" +
                               std::to_string(w) + "). Calculated output size: (" + std::to_string(planes) + "x" +
                               std::to_string(oh) + "x" + std::to_string(ow) + "). Output size is too small");
  }
  auto routes = std::make_shared<Routes>();
  routes->in_shape = s;
  routes->out_shape = s;
  routes->out_shape[r - 2] = oh;
  routes->out_shape[r - 1] = ow;
  const int64_t n_planes = numel(s) / (h * w);
  routes->index.resize(static_cast<size_t>(n_planes * oh * ow));
  Tensor y = Tensor::empty(routes->out_shape, a.dtype());
  dispatch(a.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* pa = a.data<T>();
    T* py = y.data<T>();
    int64_t o = 0;
    for (int64_t p = 0; p < n_planes; ++p) {
      const int64_t base = p * h * w;
      for (int64_t i = 0; i < oh; ++i) {
        const int64_t h0 = std::max<int64_t>(i * dh - ph, 0), h1 = std::min(i * dh - ph + kh, h);
        for (int64_t j = 0; j < ow; ++j, ++o) {
          const int64_t w0 = std::max<int64_t>(j * dw - pw, 0), w1 = std::min(j * dw - pw + kw, w);
          int64_t best = base + h0 * w + w0;
          T v = -std::numeric_limits<T>::infinity();
          for (int64_t y0 = h0; y0 < h1; ++y0) {
            for (int64_t x0 = w0; x0 < w1; ++x0) {
              const T u = pa[base + y0 * w + x0];
              if (u > v || std::isnan(u)) {
                v = u;
                best = base + y0 * w + x0;
              }
            }
          }
          py[o] = v;
          routes->index[static_cast<size_t>(o)] = best;
        }
      }
    }
  });
  record(y, "MaxPool2DWithIndicesBackward0", {a}, [a, routes = RoutesPtr(std::move(routes))](const Tensor& g, NeedsGrad) {
    return grads(scatter_routes(g, routes, a));
  });
  return y;
}

}  // namespace gradoracle
