// matmul and linear: Eigen GEMM on row-major maps, with PyTorch 1.13's shape rules and names.
#include "op_helpers.hpp"

namespace gradoracle {

namespace {
std::string dims_x(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';
    out += std::to_string(s[i]);
  }
  return out;
}

// op(A)·op(B) over broadcast batch dims: A (..., n, k) or, with trans_a, (..., k, n); likewise B.
// Both of rank >= 2. Returns (batch..., n, m).
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const int64_t ar = static_cast<int64_t>(as.size()), br = static_cast<int64_t>(bs.size());
  const int64_t n = trans_a ? as[ar - 1] : as[ar - 2], k = trans_a ? as[ar - 2] : as[ar - 1];
  const int64_t kb = trans_b ? bs[br - 1] : bs[br - 2], m = trans_b ? bs[br - 2] : bs[br - 1];
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  if (k != kb) {
    if (a_batch.empty() && b_batch.empty()) {
      fail(ErrorKind::Shape, "mat1 and mat2 shapes cannot be multiplied (" + std::to_string(n) + "x" +
                                 std::to_string(k) + " and " + std::to_string(kb) + "x" + std::to_string(m) + ")");
    }
    fail(ErrorKind::Shape, "Expected size for first two dimensions of batch2 tensor to be: [" +
                               std::to_string(numel(b_batch)) + ", " + std::to_string(k) + "] but got: [" +
                               std::to_string(numel(b_batch)) + ", " + std::to_string(kb) + "].");
  }
  Shape batch = broadcast_shapes(a_batch, b_batch);
  Shape out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(m);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  dispatch(a.dtype(), [&](auto s) {
    using T = decltype(s);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    auto one = [&](int64_t oa, int64_t ob, int64_t oo) {
      kernels::MatrixMap<T> C(po + oo, n, m);
      kernels::ConstMatrixMap<T> A(pa + oa, trans_a ? k : n, trans_a ? n : k);
      kernels::ConstMatrixMap<T> B(pb + ob, trans_b ? m : k, trans_b ? k : m);
      if (k == 0) {
        C.setZero();
      } else if (trans_a && trans_b) {
        C.noalias() = A.transpose() * B.transpose();
      } else if (trans_a) {
        C.noalias() = A.transpose() * B;
      } else if (trans_b) {
        C.noalias() = A * B.transpose();
      } else {
        C.noalias() = A * B;
      }
    };
    if (batch.empty()) {
      one(0, 0, 0);
      return;
    }
    // Walk the batch with per-batch strides (0 on broadcast dims), in matrices.
    const int64_t a_mat = n * k, b_mat = k * m, o_mat = n * m;
    std::vector<int64_t> sa = kernels::broadcast_strides(a_batch, batch);
    std::vector<int64_t> sb = kernels::broadcast_strides(b_batch, batch);
    const int64_t count = numel(batch);
    std::vector<int64_t> idx(batch.size(), 0);
    int64_t oa = 0, ob = 0;
    for (int64_t i = 0; i < count; ++i) {
      one(oa * a_mat, ob * b_mat, i * o_mat);
      for (size_t d = batch.size(); d-- > 0;) {
        oa += sa[d];
        ob += sb[d];
        if (++idx[d] < batch[d]) break;
        oa -= sa[d] * batch[d];
        ob -= sb[d] * batch[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}

// The grad_fn PyTorch 1.13 reports for torch.matmul, by the operands' ranks.
const char* matmul_name(int64_t ra, int64_t rb) {
  if (ra == 1 && rb == 1) return "DotBackward0";
  if (ra == 2 && rb == 1) return "MvBackward0";
  if (ra == 1 && rb == 2) return "SqueezeBackward3";
  if (ra == 2 && rb == 2) return "MmBackward0";
  if (ra == 2) return "CloneBackward0";
  return "UnsafeViewBackward0";
}
}  // namespace

// C = A·B with A (..., n, k), B (..., k, m), 1-D operands promoted to a row (a) or column (b)
// and the added dim removed after. dA = dC·Bᵀ, dB = Aᵀ·dC, each summed over broadcast batch dims.
Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in, b = b_in;
  detail::promote_pair(a, b);
  const int64_t ra = a.dim(), rb = b.dim();
  if (ra == 0 || rb == 0) {
    fail(ErrorKind::Shape, "both arguments to matmul need to be at least 1D, but they are " + std::to_string(ra) +
                               "D and " + std::to_string(rb) + "D");
  }
  if (ra == 1 && rb == 1 && a.numel() != b.numel()) {
    fail(ErrorKind::Shape, "inconsistent tensor size, expected tensor [" + std::to_string(a.numel()) +
                               "] and src [" + std::to_string(b.numel()) +
                               "] to have the same number of elements, but got " + std::to_string(a.numel()) +
                               " and " + std::to_string(b.numel()) + " elements respectively");
  }
  if (ra == 2 && rb == 1 && a.shape()[1] != b.numel()) {
    fail(ErrorKind::Shape, "size mismatch, got " + std::to_string(a.shape()[0]) + ", " + dims_x(a.shape()) + "," +
                               std::to_string(b.numel()));
  }
  // The operands as matrices (1-D a is a row, 1-D b a column), sharing storage.
  const Shape a2 = ra == 1 ? Shape{1, a.numel()} : a.shape();
  const Shape b2 = rb == 1 ? Shape{b.numel(), 1} : b.shape();
  Tensor am = a, bm = b;
  {
    NoGradGuard no_grad;
    if (ra == 1) am = reshape(a, a2);
    if (rb == 1) bm = reshape(b, b2);
  }
  Tensor y = batched_matmul(am, bm, false, false);
  const Shape y2 = y.shape();  // batch..., n, m: the result before 1-D operands' dims are dropped
  Shape out_shape(y.shape().begin(), y.shape().end() - 2);
  if (ra > 1) out_shape.push_back(y.shape()[y.dim() - 2]);
  if (rb > 1) out_shape.push_back(y.shape()[y.dim() - 1]);
  {
    NoGradGuard no_grad;
    y = reshape(y, out_shape);
  }
  record(y, matmul_name(ra, rb), {a, b},
         [am = am.detach(), bm = bm.detach(), y2, a_shape = a.shape(), b_shape = b.shape()](const Tensor& g,
                                                                                            NeedsGrad needs) {
           const Tensor gm = reshape(g, y2);
           Tensor ga, gb;
           if (needs[0]) ga = reshape(sum_to(batched_matmul(gm, bm, false, true), am.shape()), a_shape);
           if (needs[1]) gb = reshape(sum_to(batched_matmul(am, gm, true, false), bm.shape()), b_shape);
           return std::vector<Tensor>{ga, gb};
         });
  return y;
}

namespace {
// The grad_fn PyTorch 1.13 reports for F.linear, by the input's rank and whether there is a bias.
const char* linear_name(int64_t rank, bool has_bias) {
  if (has_bias) return rank == 2 ? "AddmmBackward0" : rank == 3 ? "ViewBackward0" : "AddBackward0";
  return rank == 2 ? "MmBackward0" : rank == 1 ? "SqueezeBackward3" : "UnsafeViewBackward0";
}
}  // namespace

// Y = X·Wᵀ + b over X viewed as (N, in). dX = dY·W, dW = dYᵀ·X, db = dY summed to b's shape.
Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  Tensor x = x_in, w = w_in, b = b_in;
  detail::promote_pair(x, w);
  if (b.defined()) detail::promote_pair(x, b), detail::promote_pair(w, b);
  if (x.dim() == 0) fail(ErrorKind::Shape, "linear: the input must be at least 1-D, got a 0-d tensor");
  if (w.dim() != 2) fail(ErrorKind::Shape, "mat2 must be a matrix, got " + std::to_string(w.dim()) + "-D tensor");
  const int64_t in = x.shape().back(), out = w.shape()[0];
  const int64_t rows = in == 0 ? numel(Shape(x.shape().begin(), x.shape().end() - 1)) : x.numel() / in;
  if (w.shape()[1] != in) {
    fail(ErrorKind::Shape, "mat1 and mat2 shapes cannot be multiplied (" + std::to_string(rows) + "x" +
                               std::to_string(in) + " and " + std::to_string(w.shape()[1]) + "x" +
                               std::to_string(out) + ")");
  }
  Shape y_shape(x.shape().begin(), x.shape().end() - 1);
  y_shape.push_back(out);
  if (b.defined() && broadcast_shapes(y_shape, b.shape()) != y_shape) {
    fail(ErrorKind::Shape, "linear: bias of shape " + to_string(b.shape()) + " does not broadcast to the output shape " +
                               to_string(y_shape));
  }
  Tensor y = Tensor::empty(y_shape, x.dtype());
  dispatch(x.dtype(), [&](auto s) {
    using T = decltype(s);
    auto Y = kernels::matrix<T>(y, rows, out);
    const auto X = kernels::matrix<T>(x, rows, in);
    const auto W = kernels::matrix<T>(w, out, in);
    if (in == 0) {
      Y.setZero();
    } else {
      Y.noalias() = X * W.transpose();
    }
    if (b.defined()) {
      if (b.dim() == 1 && b.numel() == out) {
        Y.rowwise() += kernels::matrix<T>(b, 1, out).row(0);
      } else {
        kernels::binary<T>(y, b, y, [](T p, T q) { return p + q; });
      }
    }
  });
  std::vector<Tensor> inputs{x, w};
  if (b.defined()) inputs.push_back(b);
  const bool has_bias = b.defined();
  record(y, linear_name(x.dim(), has_bias), inputs,
         [x = x.detach(), w = w.detach(), rows, in, out, has_bias](const Tensor& g, NeedsGrad needs) {
           std::vector<Tensor> grads(has_bias ? 3 : 2);
           dispatch(g.dtype(), [&](auto s) {
             using T = decltype(s);
             const auto G = kernels::matrix<T>(g, rows, out);
             if (needs[0]) {
               grads[0] = Tensor::empty(x.shape(), x.dtype());
               auto GX = kernels::matrix<T>(grads[0], rows, in);
               if (out == 0) GX.setZero(); else GX.noalias() = G * kernels::matrix<T>(w, out, in);
             }
             if (needs[1]) {
               grads[1] = Tensor::empty(w.shape(), w.dtype());
               auto GW = kernels::matrix<T>(grads[1], out, in);
               if (rows == 0) GW.setZero(); else GW.noalias() = G.transpose() * kernels::matrix<T>(x, rows, in);
             }
           });
           if (has_bias && needs[2]) grads[2] = g;  // the engine sums dY to the bias's shape
           return grads;
         });
  return y;
}

}  // namespace gradoracle
