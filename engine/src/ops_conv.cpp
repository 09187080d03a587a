// F.conv2d (PyTorch 1.13): im2col + one Eigen product per group and batch element, over
// contiguous buffers. Backward: grad input = col2im(Wᵀ·G), grad weight = G·colsᵀ, grad bias =
// sums of G. Each of the three is bilinear in its two tensors, so the backward of each is again
// one of them: under create_graph the gradients are recorded as PyTorch names them
// (ConvolutionBackwardBackward0), whose own backward calls conv2d and the two adjoints again, so
// every order is differentiable.
#include <algorithm>
#include <string>
#include <utility>

#include "op_helpers.hpp"

namespace gradoracle {

namespace {

std::string sizes(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct Geom {
  int64_t N = 1, C = 0, H = 0, W = 0, O = 0, kH = 0, kW = 0;
  int64_t sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1, groups = 1, OH = 0, OW = 0;
  int64_t Cg() const { return C / groups; }
  int64_t Og() const { return O / groups; }
  int64_t K() const { return Cg() * kH * kW; }  // rows of one group's columns
  int64_t L() const { return OH * OW; }
  Shape x_shape() const { return {N, C, H, W}; }
  Shape w_shape() const { return {O, Cg(), kH, kW}; }
  Shape y_shape() const { return {N, O, OH, OW}; }
};

// cols (C·kH·kW × OH·OW) of one image (C × H × W); zero where the window reads padding.
template <class T>
void im2col(const Geom& g, const T* x, T* cols) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kH; ++i)
      for (int64_t j = 0; j < g.kW; ++j) {
        T* row = cols + ((c * g.kH + i) * g.kW + j) * g.L();
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t h = oh * g.sH - g.pH + i * g.dH;
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t w = ow * g.sW - g.pW + j * g.dW;
            row[oh * g.OW + ow] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? x[(c * g.H + h) * g.W + w] : T(0);
          }
        }
      }
}

// The adjoint of im2col: x += cols scattered back.
template <class T>
void col2im(const Geom& g, const T* cols, T* x) {
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kH; ++i)
      for (int64_t j = 0; j < g.kW; ++j) {
        const T* row = cols + ((c * g.kH + i) * g.kW + j) * g.L();
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const int64_t h = oh * g.sH - g.pH + i * g.dH;
          if (h < 0 || h >= g.H) continue;
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t w = ow * g.sW - g.pW + j * g.dW;
            if (w >= 0 && w < g.W) x[(c * g.H + h) * g.W + w] += row[oh * g.OW + ow];
          }
        }
      }
}

template <class T>
using Mat = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using CMat = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// y (N, O, OH, OW) = conv(x, w): no bias, no graph.
Tensor conv_raw(const Geom& g, const Tensor& x, const Tensor& w) {
  Tensor y = Tensor::zeros(g.y_shape(), x.dtype());
  if (y.numel() == 0 || g.K() == 0) return y;
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    std::vector<T> cols(static_cast<size_t>(g.C * g.kH * g.kW * g.L()));
    for (int64_t n = 0; n < g.N; ++n) {
      im2col(g, x.data<T>() + n * g.C * g.H * g.W, cols.data());
      for (int64_t k = 0; k < g.groups; ++k) {
        Mat<T> Y(y.data<T>() + (n * g.O + k * g.Og()) * g.L(), g.Og(), g.L());
        CMat<T> Wk(w.data<T>() + k * g.Og() * g.K(), g.Og(), g.K());
        CMat<T> X(cols.data() + k * g.K() * g.L(), g.K(), g.L());
        Y.noalias() = Wk * X;
      }
    }
  });
  return y;
}

// dx (N, C, H, W) = col2im(Wᵀ·G) per group: no graph.
Tensor grad_input_raw(const Geom& g, const Tensor& gy, const Tensor& w) {
  Tensor dx = Tensor::zeros(g.x_shape(), gy.dtype());
  if (dx.numel() == 0 || g.L() == 0 || g.Og() == 0) return dx;
  dispatch(gy.dtype(), [&](auto s) {
    using T = decltype(s);
    std::vector<T> cols(static_cast<size_t>(g.C * g.kH * g.kW * g.L()));
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t k = 0; k < g.groups; ++k) {
        CMat<T> G(gy.data<T>() + (n * g.O + k * g.Og()) * g.L(), g.Og(), g.L());
        CMat<T> Wk(w.data<T>() + k * g.Og() * g.K(), g.Og(), g.K());
        Mat<T> X(cols.data() + k * g.K() * g.L(), g.K(), g.L());
        X.noalias() = Wk.transpose() * G;
      }
      col2im(g, cols.data(), dx.data<T>() + n * g.C * g.H * g.W);
    }
  });
  return dx;
}

// dw (O, C/groups, kH, kW) = Σ_n G·colsᵀ per group: no graph.
Tensor grad_weight_raw(const Geom& g, const Tensor& x, const Tensor& gy) {
  Tensor dw = Tensor::zeros(g.w_shape(), x.dtype());
  if (dw.numel() == 0 || g.L() == 0 || g.N == 0) return dw;
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    std::vector<T> cols(static_cast<size_t>(g.C * g.kH * g.kW * g.L()));
    for (int64_t n = 0; n < g.N; ++n) {
      im2col(g, x.data<T>() + n * g.C * g.H * g.W, cols.data());
      for (int64_t k = 0; k < g.groups; ++k) {
        CMat<T> G(gy.data<T>() + (n * g.O + k * g.Og()) * g.L(), g.Og(), g.L());
        CMat<T> X(cols.data() + k * g.K() * g.L(), g.K(), g.L());
        Mat<T> Wk(dw.data<T>() + k * g.Og() * g.K(), g.Og(), g.K());
        Wk.noalias() += G * X.transpose();
      }
    }
  });
  return dw;
}

// db (O) = Σ over n, oh, ow of G: no graph.
Tensor grad_bias_raw(const Geom& g, const Tensor& gy) {
  Tensor db = Tensor::zeros({g.O}, gy.dtype());
  dispatch(gy.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pg = gy.data<T>();
    T* pb = db.data<T>();
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t o = 0; o < g.O; ++o) {
        T acc = 0;
        for (int64_t l = 0; l < g.L(); ++l) acc += pg[(n * g.O + o) * g.L() + l];
        pb[o] += acc;
      }
  });
  return db;
}

Tensor conv_recorded(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& b);
Tensor grad_input_recorded(const Geom& g, const Tensor& gy, const Tensor& w, const Tensor& x = Tensor());
Tensor grad_weight_recorded(const Geom& g, const Tensor& x, const Tensor& gy, const Tensor& w = Tensor());

// The inputs of a ConvolutionBackwardBackward0 node: the two its result depends on, then the
// forward's other tensor when given. PyTorch's node takes (grad_output, input, weight) for every
// gradient it gives, so each carries the node as soon as any of the three requires grad; the
// third's gradient through it is zero (left undefined).
std::vector<Tensor> node_inputs(const Tensor& a, const Tensor& b, const Tensor& other) {
  std::vector<Tensor> in{a, b};
  if (other.defined()) in.push_back(other);
  return in;
}

// The three gradients of conv2d: fused kernels, or recorded ops under create_graph.
std::vector<Tensor> conv_grads(const Geom& g, const Tensor& gy, const Tensor& x, const Tensor& w, bool has_bias,
                               NeedsGrad needs) {
  std::vector<Tensor> out(has_bias ? 3 : 2);
  const bool graph = detail::needs_graph({&gy, &x, &w});
  if (needs[0]) out[0] = graph ? grad_input_recorded(g, gy, w, x) : grad_input_raw(g, gy, w);
  if (needs[1]) out[1] = graph ? grad_weight_recorded(g, x, gy, w) : grad_weight_raw(g, x, gy);
  if (has_bias && needs[2]) {
    out[2] = grad_bias_raw(g, gy);
    if (graph) {  // d(db)/dG: db's upstream spread over every (n, oh, ow); none to x and w
      record(out[2], "ConvolutionBackwardBackward0", {gy, x, w}, [y_shape = g.y_shape()](const Tensor& h, NeedsGrad) {
        return std::vector<Tensor>{expand(reshape(h, {y_shape[1], 1, 1}), y_shape), Tensor(), Tensor()};
      }, Saves::Nothing);
    }
  }
  return out;
}

Tensor conv_recorded(const Geom& g, const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = conv_raw(g, x, w);
  const bool has_bias = b.defined();
  if (has_bias) {
    dispatch(y.dtype(), [&](auto s) {
      using T = decltype(s);
      T* py = y.data<T>();
      const T* pb = b.data<T>();
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t o = 0; o < g.O; ++o)
          for (int64_t l = 0; l < g.L(); ++l) py[(n * g.O + o) * g.L() + l] += pb[o];
    });
  }
  const Tensor inputs[] = {x, w, b};
  detail::record_span(y, "ConvolutionBackward0", std::span<const Tensor>(inputs, has_bias ? 3 : 2),
                      [g, x, w, has_bias](const Tensor& gy, NeedsGrad needs) {
                        return conv_grads(g, gy, x, w, has_bias, needs);
                      }, Saves::Tensors);
  return y;
}

// dx = conv2d's input adjoint of gy through w; linear in each: d/dgy <h, dx> = conv(h, w),
// d/dw = grad_weight(h, gy).
Tensor grad_input_recorded(const Geom& g, const Tensor& gy, const Tensor& w, const Tensor& x) {
  Tensor dx = grad_input_raw(g, gy, w);
  const std::vector<Tensor> in = node_inputs(gy, w, x);
  record(dx, "ConvolutionBackwardBackward0", in, [g, gy, w, n = in.size()](const Tensor& h, NeedsGrad needs) {
    const bool graph = detail::needs_graph({&h, &gy, &w});
    std::vector<Tensor> out(n);
    if (needs[0]) out[0] = graph ? conv_recorded(g, h, w, Tensor()) : conv_raw(g, h, w);
    if (needs[1]) out[1] = graph ? grad_weight_recorded(g, h, gy) : grad_weight_raw(g, h, gy);
    return out;
  });
  return dx;
}

// dw = conv2d's weight adjoint of gy against x: d/dx <h, dw> = grad_input(gy, h), d/dgy = conv(x, h).
Tensor grad_weight_recorded(const Geom& g, const Tensor& x, const Tensor& gy, const Tensor& w) {
  Tensor dw = grad_weight_raw(g, x, gy);
  const std::vector<Tensor> in = node_inputs(x, gy, w);
  record(dw, "ConvolutionBackwardBackward0", in, [g, x, gy, n = in.size()](const Tensor& h, NeedsGrad needs) {
    const bool graph = detail::needs_graph({&h, &gy, &x});
    std::vector<Tensor> out(n);
    if (needs[0]) out[0] = graph ? grad_input_recorded(g, gy, h) : grad_input_raw(g, gy, h);
    if (needs[1]) out[1] = graph ? conv_recorded(g, x, h, Tensor()) : conv_raw(g, x, h);
    return out;
  });
  return dw;
}

// An int-or-pair attr as two values; PyTorch's message for any other length.
std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, const char* name) {
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  fail(ErrorKind::Value, std::string("expected ") + name +
                             " to be a single integer value or a list of 2 values to match the convolution dimensions, but got " +
                             name + "=" + sizes(v));
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::vector<int64_t>& stride,
              const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, int64_t groups) {
  // PyTorch 1.13's checks, in its order (verified against torch): the bias's dtype first, then
  // the ranks and attr lengths, check_shape_forward's (groups, padding, stride, weight rows,
  // channels, bias, kernel extent), the empty-input rule, the kernel's own (kernel size,
  // dilation, on the dilated path only when a dilation is not 1), the weight's dtype last.
  if (bias.defined() && bias.dtype() != input.dtype()) {
    const auto name = [](DType d) { return d == DType::Float32 ? "float" : "double"; };
    fail(ErrorKind::DType, std::string("Input type (") + name(input.dtype()) + ") and bias type (" + name(bias.dtype()) +
                               ") should be the same");
  }
  if (input.dim() != 3 && input.dim() != 4) {
    fail(ErrorKind::Dim, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: " +
                             sizes(input.shape()));
  }
  if (!is_floating(input.dtype())) fail_not_floating(input.dtype());
  if (weight.dim() < 3) fail(ErrorKind::Shape, "weight should have at least three dimensions");
  if (weight.dim() != 4) {
    fail(ErrorKind::Shape, "expected stride to be a single integer value or a list of " + std::to_string(weight.dim() - 2) +
                               " values to match the convolution dimensions, but got stride=" +
                               sizes(stride.size() == 1 ? Shape{stride[0], stride[0]} : Shape(stride.begin(), stride.end())));
  }
  const auto [sH, sW] = pair_of(stride, "stride");
  const auto [pH, pW] = pair_of(padding, "padding");
  const auto [dH, dW] = pair_of(dilation, "dilation");
  if (groups <= 0) fail(ErrorKind::Value, "non-positive groups is not supported");
  if (pH < 0 || pW < 0) fail(ErrorKind::Value, "negative padding is not supported");
  if (sH <= 0 || sW <= 0) fail(ErrorKind::Value, "non-positive stride is not supported");
  const bool batched = input.dim() == 4;
  const Tensor x = batched ? input : unsqueeze(input, 0);
  const Shape& ws = weight.shape();
  if (ws[0] < groups) {
    fail(ErrorKind::Shape, "Given groups=" + std::to_string(groups) + ", expected weight to be at least " +
                               std::to_string(groups) + " at dimension 0, but got weight of size " + sizes(ws) +
                               " instead");
  }
  if (ws[0] % groups != 0) {
    fail(ErrorKind::Shape, "Given groups=" + std::to_string(groups) + ", expected weight to be divisible by " +
                               std::to_string(groups) + " at dimension 0, but got weight of size [" + sizes(ws) +
                               "] instead");
  }
  if (x.shape()[1] != ws[1] * groups) {
    fail(ErrorKind::Shape, "Given groups=" + std::to_string(groups) + ", weight of size " + sizes(ws) +
                               ", expected input" + sizes(x.shape()) + " to have " + std::to_string(ws[1] * groups) +
                               " channels, but got " + std::to_string(x.shape()[1]) + " channels instead");
  }
  if (bias.defined() && (bias.dim() != 1 || bias.numel() != ws[0])) {
    fail(ErrorKind::Shape, "Given weight of size " + sizes(ws) + ", expected bias to be 1-dimensional with " +
                               std::to_string(ws[0]) + " elements, but got bias of size " + sizes(bias.shape()) +
                               " instead");
  }
  const int64_t eH = dH * (ws[2] - 1) + 1, eW = dW * (ws[3] - 1) + 1;
  const int64_t inH = x.shape()[2] + 2 * pH, inW = x.shape()[3] + 2 * pW;
  if (inH < eH || inW < eW) {
    fail(ErrorKind::Shape, "Calculated padded input size per channel: (" + std::to_string(inH) + " x " +
                               std::to_string(inW) + "). Kernel size: (" + std::to_string(eH) + " x " +
                               std::to_string(eW) + "). Kernel size can't be greater than actual input size");
  }
  if (x.numel() == 0 && x.shape()[0] != 0 && x.shape()[1] != 0) {
    fail(ErrorKind::Shape, "Only zero batch or zero channel inputs are supported, but got input shape: " +
                               sizes(x.shape()));
  }
  const bool dilated = dH != 1 || dW != 1;
  if (ws[2] <= 0 || ws[3] <= 0) {
    fail(ErrorKind::Value, dilated ? "kernel size should be greater than zero, but got " + sizes({ws[2], ws[3]})
                                   : "kernel size should be greater than zero, but got kernel_height: " +
                                         std::to_string(ws[2]) + " kernel_width: " + std::to_string(ws[3]));
  }
  if (dH <= 0 || dW <= 0) {
    fail(ErrorKind::Value, "dilation should be greater than zero, but got " + sizes({dH, dW}));
  }
  detail::require_same_dtype(input, weight);
  Geom g;
  g.N = x.shape()[0], g.C = x.shape()[1], g.H = x.shape()[2], g.W = x.shape()[3];
  g.O = ws[0], g.kH = ws[2], g.kW = ws[3];
  g.sH = sH, g.sW = sW, g.pH = pH, g.pW = pW, g.dH = dH, g.dW = dW, g.groups = groups;
  g.OH = (g.H + 2 * pH - eH) / sH + 1;
  g.OW = (g.W + 2 * pW - eW) / sW + 1;
  // The padding is unbounded, so is the result: refused here, as expand refuses its size, before
  // the result and the im2col buffer (C·kH·kW × OH·OW) are allocated (the fixture interpreter
  // refuses far smaller ones first: registry::predict_numel reads the geometry attrs).
  check_shape(g.y_shape(), "conv2d");
  check_shape(Shape{g.C, g.kH, g.kW, g.OH, g.OW}, "conv2d");
  Tensor y = conv_recorded(g, x, weight, bias);
  return batched ? y : squeeze(y, 0);
}

}  // namespace gradoracle
