// matmul and linear: Eigen GEMM on row-major maps, with PyTorch 1.13's shape rules and names.
#include <algorithm>
#include <optional>
#include <string_view>

#include "op_helpers.hpp"
#include "tensor_access.hpp"

namespace gradoracle {

namespace {
// op(A)·op(B) over broadcast batch dims: A (..., n, k) or, with trans_a, (..., k, n); likewise B.
// Both of rank >= 2. Returns (batch..., n, m).
Tensor batched_matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const int64_t ar = static_cast<int64_t>(as.size()), br = static_cast<int64_t>(bs.size());
  const int64_t n = trans_a ? as[ar - 1] : as[ar - 2], k = trans_a ? as[ar - 2] : as[ar - 1];
  const int64_t kb = trans_b ? bs[br - 1] : bs[br - 2], m = trans_b ? bs[br - 2] : bs[br - 1];
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  if (k != kb) {  // callers check shapes first (check_matmul_shapes): this is an engine bug
    fail(ErrorKind::Shape, "batched_matmul: inner dims differ (" + std::to_string(k) + " and " + std::to_string(kb) + ")");
  }
  Shape batch = broadcast_shapes(a_batch, b_batch);
  Shape out_shape;  // (batch..., n, m)
  out_shape.reserve(batch.size() + 2);
  out_shape.assign(batch.begin(), batch.end());
  out_shape.push_back(n);
  out_shape.push_back(m);
  Tensor out = Tensor::empty(std::move(out_shape), a.dtype());
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
    // strides and the batch index held inline (no allocation up to 8 batch dims)
    kernels::Strides sa(batch.size()), sb(batch.size()), idx(batch.size(), 0);
    kernels::broadcast_strides_into(a_batch, batch, sa.data());
    kernels::broadcast_strides_into(b_batch, batch, sb.data());
    const int64_t count = numel(batch);
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

std::string mm_mismatch(int64_t n, int64_t k, int64_t kb, int64_t m) {
  return "mat1 and mat2 shapes cannot be multiplied (" + std::to_string(n) + "x" + std::to_string(k) + " and " +
         std::to_string(kb) + "x" + std::to_string(m) + ")";
}
std::string mv_mismatch(int64_t n, int64_t k, int64_t kb) {
  return "size mismatch, got " + std::to_string(n) + ", " + std::to_string(n) + "x" + std::to_string(k) + "," +
         std::to_string(kb);
}

// torch.matmul's shape errors, worded by the path PyTorch 1.13 takes for the operands' ranks:
// dot, mv, mm, a batched operand folded into a matrix (mv/mm), or bmm over broadcast batch dims.
void check_matmul_shapes(const Shape& as, const Shape& bs) {
  const size_t ra = as.size(), rb = bs.size();
  const int64_t k = as[ra - 1], kb = rb == 1 ? bs[0] : bs[rb - 2];
  const auto prod = [](const Shape& s, size_t from, size_t to) { return numel(Shape(s.begin() + from, s.begin() + to)); };
  if (ra == 1 && rb == 1) {
    if (k != kb) {
      fail(ErrorKind::Shape, "inconsistent tensor size, expected tensor [" + std::to_string(k) + "] and src [" +
                                 std::to_string(kb) + "] to have the same number of elements, but got " +
                                 std::to_string(k) + " and " + std::to_string(kb) + " elements respectively");
    }
    return;
  }
  if (k == kb && (ra <= 2 || rb <= 2)) return;
  if (rb <= 2 && k != kb) {  // a (…, n, k) folded to (N, k): mv or mm
    const int64_t rows = ra == 1 ? 1 : prod(as, 0, ra - 1);
    if (rb == 1) fail(ErrorKind::Shape, mv_mismatch(rows, k, kb));
    fail(ErrorKind::Shape, mm_mismatch(rows, k, kb, bs[1]));
  }
  if (ra <= 2 && k != kb) {  // PyTorch folds bᵀ (…, m, k) to (M, k) and multiplies by aᵀ
    const int64_t rows = prod(bs, 0, rb - 2) * bs[rb - 1];
    if (ra == 1) fail(ErrorKind::Shape, mv_mismatch(rows, kb, k));
    fail(ErrorKind::Shape, mm_mismatch(rows, kb, k, as[0]));
  }
  // Both batched: bmm over the broadcast batch dims.
  const Shape batch = broadcast_shapes(Shape(as.begin(), as.end() - 2), Shape(bs.begin(), bs.end() - 2));
  if (k != kb) {
    fail(ErrorKind::Shape, "Expected size for first two dimensions of batch2 tensor to be: [" +
                               std::to_string(numel(batch)) + ", " + std::to_string(k) + "] but got: [" +
                               std::to_string(numel(batch)) + ", " + std::to_string(kb) + "].");
  }
}

// The shape of matmul's product before the dims of 1-D operands are dropped: `out` with the
// row of a 1-D a (n = 1) and the column of a 1-D b (m = 1) put back: (batch..., n, m).
Shape matrix_product_shape(const Shape& out, bool a_vector, bool b_vector) {
  Shape shape = out;
  if (a_vector) shape.insert(shape.end() - (b_vector ? 0 : 1), 1);
  if (b_vector) shape.push_back(1);
  return shape;
}

// The grad_fn PyTorch 1.13 reports for torch.matmul, by the operands' ranks (2-D @ batched:
// matmul_2d_batched decides).
const char* matmul_name(int64_t ra, int64_t rb) {
  if (ra == 1 && rb == 1) return "DotBackward0";
  if (ra == 2 && rb == 1) return "MvBackward0";
  if (ra == 1 && rb == 2) return "SqueezeBackward3";
  if (ra == 2 && rb == 2) return "MmBackward0";
  return "UnsafeViewBackward0";
}

// ATen's _matmul_impl for a 2-D a and a b of rank >= 3 (should_fold): b's batch is folded into
// one mm, bᵀ (…, m, k) as (B·m, k) times aᵀ, viewed as (…, m, n) and returned transposed through
// .contiguous() -- unless b is 3-D with its last two dims transposed under a slowest first dim
// (stride[2] != 1 and stride[0] = size[1]·size[2]), which takes bmm (UnsafeViewBackward0).
// The transposed result is contiguous, so .contiguous() returns it (a view, TransposeBackward0),
// exactly when n = 1, m = 1 or it is empty; else it is copied (CloneBackward0). Gives y that
// layout and returns the name.
const char* matmul_2d_batched(Tensor& y, const Tensor& b) {
  const Shape& bs = b.shape();
  if (bs.size() == 3) {
    const std::vector<int64_t> s = b.stride();
    if (s[2] != 1 && s[0] == bs[1] * bs[2]) return "UnsafeViewBackward0";
  }
  Shape folded = y.shape();  // (…, m, n): the mm result's view, with default strides
  std::swap(folded[folded.size() - 1], folded[folded.size() - 2]);
  std::vector<int64_t> strides = layout::default_strides(folded);
  std::swap(strides[strides.size() - 1], strides[strides.size() - 2]);
  if (!layout::is_contiguous(y.shape(), strides)) return "CloneBackward0";
  layout::set(impl_of(y), std::move(strides));
  detail::mark_view(y);
  return "TransposeBackward0";
}
}  // namespace

namespace {
// matmul's gradients from recorded ops, following the path PyTorch 1.13's matmul takes for the
// operands' ranks, so that each result has PyTorch's grad_fn (C = A·B, dA = dC·Bᵀ, dB = Aᵀ·dC):
//   1·1 dot: dA = g·b, dB = g·a (MulBackward0);  2·1 mv: dA = g ⊗ b (MulBackward0), dB = Aᵀg (Mv);
//   1·2: dA = squeeze((1, m)·Bᵀ) (SqueezeBackward1), dB = a ⊗ g (Mm);  2·2: dC·Bᵀ, Aᵀ·dC (Mm);
//   A of rank >= 3 against a 1-D/2-D B: A folded to (B·n, k), the mv/mm gradients, dA reshaped
//   back (ReshapeAlias); 1-D/2-D A against B of rank >= 3 (fold_b): Bᵀ folded to (B·m, k) and
//   C = (Bᵀ·Aᵀ)ᵀ, so dA = (Bᵀᵀ·dCᵀ)ᵀ (T, or Mv for a 1-D a) and dB = transpose(dCᵀ·A) (Transpose);
//   otherwise bmm over broadcast batch dims: dC·Bᵀ and Aᵀ·dC, then ATen's sum_to of each operand.
std::vector<Tensor> matmul_grads_recorded(const Tensor& g, const Tensor& a, const Tensor& b, bool fold_b,
                                          NeedsGrad needs) {
  const int64_t ra = a.dim(), rb = b.dim();
  Tensor ga, gb;
  const auto last2 = [](const Tensor& x) { return transpose(x, -1, -2); };
  // The product of every dim but the last (the rows of x folded to a matrix; right for k = 0).
  const auto leading = [](const Shape& s) {
    int64_t n = 1;
    for (size_t i = 0; i + 1 < s.size(); ++i) n *= s[i];
    return n;
  };
  if (ra == 1 && rb == 1) {
    if (needs[0]) ga = mul(g, b);
    if (needs[1]) gb = mul(g, a);
  } else if (ra <= 2 && rb <= 2) {
    const Tensor am = ra == 1 ? reshape(a, Shape{1, a.numel()}) : a;
    const Tensor bm = rb == 1 ? reshape(b, Shape{b.numel(), 1}) : b;
    const Tensor gm = reshape(g, Shape{am.shape()[0], bm.shape()[1]});
    if (needs[0]) {
      if (ra == 1) ga = detail::view_as_named(matmul(gm, t(bm)), a.shape(), "SqueezeBackward1");
      else if (rb == 1) ga = mul(gm, b);  // outer(g, b)
      else ga = matmul(g, t(b));
    }
    if (needs[1]) gb = rb == 1 ? matmul(t(a), g) : matmul(t(am), gm);
  } else if (rb <= 2) {  // A folded to (rows, k)
    const int64_t k = a.shape().back(), rows = leading(a.shape());
    const Tensor af = reshape(a, Shape{rows, k});
    const Tensor gf = rb == 1 ? reshape(g, Shape{rows}) : reshape(g, Shape{rows, b.shape()[1]});
    if (needs[0]) ga = reshape(rb == 1 ? mul(reshape(gf, Shape{rows, 1}), b) : matmul(gf, t(b)), a.shape());
    if (needs[1]) gb = matmul(t(af), gf);
  } else if (fold_b) {  // Bᵀ folded to (rows, k): C = (Bᵀ·Aᵀ)ᵀ
    const Tensor bt = last2(b);  // (…, m, k)
    const int64_t k = bt.shape().back(), rows = leading(bt.shape());
    const Tensor gt = ra == 1 ? reshape(g, Shape{rows}) : reshape(last2(g), Shape{rows, a.shape()[0]});
    if (needs[0]) ga = ra == 1 ? matmul(t(reshape(bt, Shape{rows, k})), gt) : t(matmul(t(reshape(bt, Shape{rows, k})), gt));
    if (needs[1]) {
      const Tensor d_bt = ra == 1 ? mul(reshape(gt, Shape{rows, 1}), a) : matmul(gt, a);  // (rows, k)
      gb = last2(reshape(d_bt, bt.shape()));
    }
  } else {  // bmm over the broadcast batch dims
    const auto full = [&](const Tensor& x) { return reshape(x, x.shape()); };
    if (needs[0]) ga = detail::sum_to_recorded(full(matmul(g, last2(rb == 1 ? reshape(b, Shape{1, b.numel()}) : b))), a.shape());
    if (needs[1]) gb = detail::sum_to_recorded(full(matmul(last2(ra == 1 ? reshape(a, Shape{1, a.numel()}) : a), g)), b.shape());
  }
  return {ga, gb};
}
}  // namespace

// C = A·B with A (..., n, k), B (..., k, m), 1-D operands promoted to a row (a) or column (b)
// and the added dim removed after. dA = dC·Bᵀ, dB = Aᵀ·dC, each summed over broadcast batch dims.
Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in, b = b_in;
  const int64_t ra = a.dim(), rb = b.dim();
  if (ra == 0 || rb == 0) {
    fail(ErrorKind::Shape, "both arguments to matmul need to be at least 1D, but they are " + std::to_string(ra) +
                               "D and " + std::to_string(rb) + "D");
  }
  detail::require_same_dtype(a, b);
  check_matmul_shapes(a.shape(), b.shape());
  // The operands as matrices (1-D a is a row, 1-D b a column), sharing storage.
  const bool a_vector = ra == 1, b_vector = rb == 1;
  Tensor am = a, bm = b;
  {
    NoGradGuard no_grad;
    if (a_vector) am = reshape(a, Shape{1, a.numel()});
    if (b_vector) bm = reshape(b, Shape{b.numel(), 1});
  }
  Tensor y = batched_matmul(am, bm, false, false);
  if (a_vector || b_vector) {  // drop the dims the 1-D operands gained
    Shape out_shape(y.shape().begin(), y.shape().end() - 2);
    if (!a_vector) out_shape.push_back(y.shape()[y.dim() - 2]);
    if (!b_vector) out_shape.push_back(y.shape()[y.dim() - 1]);
    NoGradGuard no_grad;
    y = reshape(y, out_shape);
    impl_of(y).is_view = false;  // a fresh result, not a view of an input
  }
  const char* name = ra == 2 && rb >= 3 ? matmul_2d_batched(y, b) : matmul_name(ra, rb);
  if (!grad_mode_enabled() || !(a.requires_grad() || b.requires_grad())) return y;  // no node: nothing captured
  // 2-D a against a batched b folds b unless matmul_2d_batched chose bmm; a 1-D a always folds.
  const bool fold_b = rb >= 3 && (ra == 1 || (ra == 2 && std::string_view(name) != "UnsafeViewBackward0"));
  record(y, name, {a, b}, [a, b, am, bm, a_vector, b_vector, fold_b](const Tensor& g, NeedsGrad needs) {
    if (detail::needs_graph({&g, &a, &b})) return matmul_grads_recorded(g, a, b, fold_b, needs);
    // Without 1-D operands every reshape here would be to the shape the tensor has: skipped.
    const Tensor gm = a_vector || b_vector ? reshape(g, matrix_product_shape(g.shape(), a_vector, b_vector)) : g;
    Tensor ga, gb;
    if (needs[0]) {
      ga = sum_to(batched_matmul(gm, bm, false, true), am.shape());
      if (a_vector) ga = reshape(ga, Shape{am.numel()});
    }
    if (needs[1]) {
      gb = sum_to(batched_matmul(am, gm, true, false), bm.shape());
      if (b_vector) gb = reshape(gb, Shape{bm.numel()});
    }
    return std::vector<Tensor>{ga, gb};
  });
  return y;
}

namespace {
// PyTorch 1.13's F.linear takes a fused addmm path, ending in a view, for a 3-D contiguous input
// with a bias; any other input with a bias is matmul then add.
bool linear_fused_3d(const Tensor& x, bool has_bias) { return has_bias && x.dim() == 3 && x.is_contiguous(); }

// The grad_fn PyTorch 1.13 reports for F.linear, by the input's rank and layout and the bias.
const char* linear_name(const Tensor& x, bool has_bias) {
  const int64_t rank = x.dim();
  if (has_bias) return rank == 2 ? "AddmmBackward0" : linear_fused_3d(x, has_bias) ? "ViewBackward0" : "AddBackward0";
  return rank == 2 ? "MmBackward0" : rank == 1 ? "SqueezeBackward3" : "UnsafeViewBackward0";
}
}  // namespace

namespace {
// linear's gradients from recorded ops, as PyTorch 1.13's F.linear records them (matmul with
// Wᵀ, so dW is the transpose of (Xᵀ·dY): TBackward0):
//   1-D x: dx = squeeze((1, out)·W) (SqueezeBackward1), dW = ((in, 1)·(1, out))ᵀ;
//   2-D x: dx = dY·W (MmBackward0), dW = (Xᵀ·dY)ᵀ;
//   x of rank >= 3: X, dY folded to (rows, in), (rows, out); dx = dY·W reshaped back (ReshapeAlias);
//   db = ATen's sum_to(dY, b.shape) (dY itself when shapes agree; ViewBackward0 when summed).
std::vector<Tensor> linear_grads_recorded(const Tensor& g, const Tensor& x, const Tensor& w,
                                          const std::optional<Shape>& bias_shape, NeedsGrad needs) {
  std::vector<Tensor> grads(bias_shape ? 3 : 2);
  const int64_t in = w.shape()[1], out = w.shape()[0];
  if (x.dim() == 1) {
    const Tensor gm = reshape(g, Shape{1, out});
    if (needs[0]) grads[0] = detail::view_as_named(matmul(gm, w), x.shape(), "SqueezeBackward1");
    if (needs[1]) grads[1] = t(matmul(reshape(x, Shape{in, 1}), gm));
  } else if (x.dim() == 2) {
    if (needs[0]) grads[0] = matmul(g, w);
    if (needs[1]) grads[1] = t(matmul(t(x), g));
  } else {
    const int64_t rows = numel(Shape(x.shape().begin(), x.shape().end() - 1));
    const Tensor gf = reshape(g, Shape{rows, out});
    if (needs[0]) grads[0] = reshape(matmul(gf, w), x.shape());
    if (needs[1]) grads[1] = t(matmul(t(reshape(x, Shape{rows, in})), gf));
  }
  if (bias_shape && needs[2]) grads[2] = detail::sum_to_recorded(g, *bias_shape);
  return grads;
}
}  // namespace

// Y = X·Wᵀ + b over X viewed as (N, in). dX = dY·W, dW = dYᵀ·X, db = dY summed to b's shape.
Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  Tensor x = x_in, w = w_in, b = b_in;
  if (x.dim() == 0) {
    fail(ErrorKind::Shape, "both arguments to matmul need to be at least 1D, but they are 0D and " +
                               std::to_string(w.dim()) + "D");
  }
  detail::require_same_dtype(x, w);
  if (b.defined()) detail::require_same_dtype(x, b);
  if (w.dim() != 2) fail(ErrorKind::Shape, "mat2 must be a matrix, got " + std::to_string(w.dim()) + "-D tensor");
  const int64_t in = x.shape().back(), out = w.shape()[0];
  const int64_t rows = in == 0 ? numel(Shape(x.shape().begin(), x.shape().end() - 1)) : x.numel() / in;
  if (w.shape()[1] != in) {
    fail(ErrorKind::Shape, "mat1 and mat2 shapes cannot be multiplied (" + std::to_string(rows) + "x" +
                               std::to_string(in) + " and " + std::to_string(w.shape()[1]) + "x" +
                               std::to_string(out) + ")");
  }
  Shape y_shape;  // x's shape with its last dim replaced by `out`
  y_shape.reserve(x.shape().size());
  y_shape.assign(x.shape().begin(), x.shape().end() - 1);
  y_shape.push_back(out);
  if (b.defined()) {
    // PyTorch expands the bias to the output: its error names the first dim, from the right, at fault.
    const Shape& bs = b.shape();
    bool ok = bs.size() <= y_shape.size();
    for (size_t i = 0; ok && i < bs.size(); ++i) {
      const size_t yi = y_shape.size() - bs.size() + i;
      if (bs[i] != 1 && bs[i] != y_shape[yi]) {
        fail(ErrorKind::Shape, "The expanded size of the tensor (" + std::to_string(y_shape[yi]) +
                                   ") must match the existing size (" + std::to_string(bs[i]) +
                                   ") at non-singleton dimension " + std::to_string(yi) + ".  Target sizes: " +
                                   to_string(y_shape) + ".  Tensor sizes: " + to_string(bs));
      }
    }
    if (!ok) {
      fail(ErrorKind::Shape, "The expanded size of the tensor must match the existing size: bias of shape " +
                                 to_string(bs) + " has more dims than the output " + to_string(y_shape));
    }
  }
  Tensor y = Tensor::empty(std::move(y_shape), x.dtype());
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
  const bool has_bias = b.defined();
  if (!grad_mode_enabled() || !(x.requires_grad() || w.requires_grad() || (has_bias && b.requires_grad()))) {
    // no node: nothing captured (the fused 3-D path is still a view)
    if (linear_fused_3d(x, has_bias)) detail::mark_view(y);
    return y;
  }
  const Tensor inputs[] = {x, w, b};
  // The usual bias, a vector of `out`: its gradient is dY's column sums, fused below.
  const bool bias_row = has_bias && b.dim() == 1 && b.numel() == out;
  detail::record_span(y, linear_name(x, has_bias), std::span<const Tensor>(inputs, has_bias ? 3 : 2),
         [x, w, rows, in, out, has_bias, bias_row](const Tensor& g, NeedsGrad needs) {
           if (detail::needs_graph({&g, &x, &w})) {  // the bias's shape from its edge: b is not kept
             std::optional<Shape> bias_shape;
             if (has_bias) bias_shape = detail::current_node()->next_edges()[2].shape.to_shape();
             return linear_grads_recorded(g, x, w, bias_shape, needs);
           }
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
             if (bias_row && needs[2]) {  // db = 1ᵀ·dY
               grads[2] = Tensor::empty({out}, g.dtype());
               auto GB = kernels::matrix<T>(grads[2], 1, out);
               if (rows == 0) GB.setZero(); else GB.noalias() = G.colwise().sum();
             }
           });
           if (has_bias && !bias_row && needs[2]) grads[2] = g;  // the engine sums dY to the bias's shape
           return grads;
         },
         Saves::Tensors);
  if (linear_fused_3d(x, has_bias)) detail::mark_view(y);
  return y;
}

}  // namespace gradoracle
