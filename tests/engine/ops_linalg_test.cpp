// matmul and linear: values and gradients against a triple loop that applies the product rule
// (dC/dA[i,p] = B[p,j]), PyTorch 1.13's grad_fn names per rank, and its shape and dtype errors.
#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

// Values 0.1·(i+1)·(-1)^i for a tensor of n elements: distinct, signed, small.
std::vector<double> ramp(int64_t n, double scale = 0.1) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(scale * static_cast<double>(i + 1) * (i % 2 ? -1 : 1));
  return v;
}

struct MatmulRef {
  Shape shape;
  std::vector<double> value, grad_a, grad_b;
};

// torch.matmul by definition: 1-D a is a row, 1-D b a column, batch dims broadcast (right-aligned,
// size 1 repeats), the added dims dropped. Upstream g (in the output's flat order) gives
// grad_a[·] += g·B and grad_b[·] += g·A term by term.
MatmulRef reference_matmul(const Shape& as, const std::vector<double>& a, const Shape& bs, const std::vector<double>& b,
                           const std::vector<double>& g) {
  const Shape a2 = as.size() == 1 ? Shape{1, as[0]} : as, b2 = bs.size() == 1 ? Shape{bs[0], 1} : bs;
  const int64_t n = a2[a2.size() - 2], k = a2.back(), m = b2.back();
  const Shape ab(a2.begin(), a2.end() - 2), bb(b2.begin(), b2.end() - 2);
  const Shape batch = broadcast_shapes(ab, bb);
  MatmulRef r;
  r.shape = batch;
  if (as.size() > 1) r.shape.push_back(n);
  if (bs.size() > 1) r.shape.push_back(m);
  r.value.assign(static_cast<size_t>(numel(batch) * n * m), 0.0);
  r.grad_a.assign(a.size(), 0.0);
  r.grad_b.assign(b.size(), 0.0);
  // The flat matrix offset of batch index `idx` in an operand with batch dims `s`.
  const auto offset = [&](const Shape& s, int64_t idx) {
    int64_t off = 0, stride = 1;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t i = idx % batch[d];
      idx /= batch[d];
      const size_t sd = d + s.size() - batch.size();  // right-aligned
      if (d + s.size() >= batch.size()) {
        if (s[sd] != 1) off += i * stride;
        stride *= s[sd];
      }
    }
    return off;
  };
  for (int64_t t = 0; t < numel(batch); ++t) {
    const int64_t oa = offset(ab, t) * n * k, ob = offset(bb, t) * k * m;
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < m; ++j) {
        const size_t o = static_cast<size_t>((t * n + i) * m + j);
        for (int64_t p = 0; p < k; ++p) {
          const size_t ia = static_cast<size_t>(oa + i * k + p), ib = static_cast<size_t>(ob + p * m + j);
          r.value[o] += a[ia] * b[ib];
          r.grad_a[ia] += g[o] * b[ib];
          r.grad_b[ib] += g[o] * a[ia];
        }
      }
    }
  }
  return r;
}

struct MatmulCase {
  Shape a, b;
  const char* grad_fn;
};

TEST(Matmul, EveryRankCombinationAgainstTheDefinition) {
  const std::vector<MatmulCase> cases = {
      {{3}, {3}, "DotBackward0"},
      {{2, 3}, {3}, "MvBackward0"},
      {{3}, {3, 2}, "SqueezeBackward3"},
      {{2, 3}, {3, 4}, "MmBackward0"},
      {{2, 2, 3}, {3}, "UnsafeViewBackward0"},
      {{3}, {2, 3, 4}, "UnsafeViewBackward0"},
      {{2, 2, 3}, {3, 4}, "UnsafeViewBackward0"},
      {{2, 3}, {2, 3, 4}, "CloneBackward0"},
      {{2, 2, 3}, {2, 3, 4}, "UnsafeViewBackward0"},
      {{2, 1, 2, 3}, {3, 3, 2}, "UnsafeViewBackward0"},  // batch dims broadcast to (2, 3)
      {{1, 2, 3}, {4, 3, 2}, "UnsafeViewBackward0"},
      {{2, 0}, {0, 3}, "MmBackward0"},  // k = 0: zeros
      {{0, 3}, {3, 2}, "MmBackward0"},
  };
  for (const MatmulCase& c : cases) {
    SCOPED_TRACE(to_string(c.a) + " @ " + to_string(c.b));
    for (DType dt : kDTypes) {
      const Tensor a = leaf(c.a, ramp(numel(c.a)), dt), b = leaf(c.b, ramp(numel(c.b), 0.3), dt);
      const Tensor y = matmul(a, b);
      EXPECT_EQ(y.grad_fn_name(), c.grad_fn);
      const std::vector<double> g = ramp(y.numel(), 0.7);
      const MatmulRef r = reference_matmul(c.a, a.to_vector(), c.b, b.to_vector(), g);
      EXPECT_TENSOR_NEAR(y, r.value, r.shape, tol_of(dt));
      y.backward(lit(y.shape(), g, dt));
      EXPECT_TENSOR_NEAR(a.grad(), r.grad_a, c.a, 4 * tol_of(dt));
      EXPECT_TENSOR_NEAR(b.grad(), r.grad_b, c.b, 4 * tol_of(dt));
    }
  }
}

TEST(Matmul, ErrorsWordedByPyTorchsPath) {
  const auto mm = [](const Shape& a, const Shape& b) { return matmul(Tensor::ones(a), Tensor::ones(b)); };
  EXPECT_ERROR(mm({}, {3}), Shape, "both arguments to matmul need to be at least 1D, but they are 0D and 1D");
  EXPECT_ERROR(mm({3}, {4}), Shape,
               "inconsistent tensor size, expected tensor [3] and src [4] to have the same number of elements, but "
               "got 3 and 4 elements respectively");
  EXPECT_ERROR(mm({2, 3}, {4}), Shape, "size mismatch, got 2, 2x3,4");
  EXPECT_ERROR(mm({3}, {4, 2}), Shape, "mat1 and mat2 shapes cannot be multiplied (1x3 and 4x2)");
  EXPECT_ERROR(mm({2, 3}, {4, 5}), Shape, "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)");
  EXPECT_ERROR(mm({2, 2, 3}, {4}), Shape, "size mismatch, got 4, 4x3,4");
  EXPECT_ERROR(mm({2, 2, 3}, {4, 5}), Shape, "mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)");
  EXPECT_ERROR(mm({2, 3}, {2, 4, 5}), Shape, "mat1 and mat2 shapes cannot be multiplied (10x4 and 3x2)");
  EXPECT_ERROR(mm({3}, {2, 4, 5}), Shape, "size mismatch, got 10, 10x4,3");
  EXPECT_ERROR(mm({2, 2, 3}, {2, 4, 5}), Shape,
               "Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [2, 4].");
  EXPECT_ERROR(mm({2, 2, 3}, {3, 3, 4}), Shape,
               "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0");
  EXPECT_ERROR(matmul(Tensor::ones({2, 2}), Tensor::ones({2, 2}, kF64)), DType,
               "expected scalar type Float but found Double");
}

// ---------------------------------------------------------------- linear
struct LinearCase {
  Shape x;
  bool bias;
  const char* grad_fn;
};

// y[r, o] = Σᵢ x[r, i]·W[o, i] + b[o]; dx = g·W, dW = gᵀ·x, db = Σ_r g.
TEST(Linear, ValuesGradsAndNamesByRank) {
  const std::vector<LinearCase> cases = {
      {{3}, true, "AddBackward0"},          {{3}, false, "SqueezeBackward3"},
      {{4, 3}, true, "AddmmBackward0"},     {{4, 3}, false, "MmBackward0"},
      {{5, 4, 3}, true, "ViewBackward0"},   {{5, 4, 3}, false, "UnsafeViewBackward0"},
      {{2, 5, 4, 3}, true, "AddBackward0"}, {{2, 5, 4, 3}, false, "UnsafeViewBackward0"},
      {{0, 3}, true, "AddmmBackward0"},
  };
  const int64_t in = 3, out = 2;
  for (const LinearCase& c : cases) {
    SCOPED_TRACE(to_string(c.x) + (c.bias ? " with bias" : ""));
    for (DType dt : kDTypes) {
      const Tensor x = leaf(c.x, ramp(numel(c.x)), dt);
      const Tensor w = leaf({out, in}, ramp(out * in, 0.3), dt);
      const Tensor b = c.bias ? leaf({out}, {0.25, -0.5}, dt) : Tensor();
      const Tensor y = linear(x, w, b);
      EXPECT_EQ(y.grad_fn_name(), c.grad_fn);
      Shape ys = c.x;
      ys.back() = out;
      const int64_t rows = numel(c.x) / in;
      const auto xv = x.to_vector(), wv = w.to_vector();
      const std::vector<double> g = ramp(rows * out, 0.7);
      std::vector<double> value(static_cast<size_t>(rows * out)), gx(xv.size(), 0.0), gw(wv.size(), 0.0),
          gb(static_cast<size_t>(out), 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          const size_t ro = static_cast<size_t>(r * out + o);
          value[ro] = c.bias ? b.to_vector()[static_cast<size_t>(o)] : 0.0;
          gb[static_cast<size_t>(o)] += g[ro];
          for (int64_t i = 0; i < in; ++i) {
            const size_t ri = static_cast<size_t>(r * in + i), oi = static_cast<size_t>(o * in + i);
            value[ro] += xv[ri] * wv[oi];
            gx[ri] += g[ro] * wv[oi];
            gw[oi] += g[ro] * xv[ri];
          }
        }
      }
      EXPECT_TENSOR_NEAR(y, value, ys, tol_of(dt));
      y.backward(lit(ys, g, dt));
      EXPECT_TENSOR_NEAR(x.grad(), gx, c.x, 4 * tol_of(dt));
      EXPECT_TENSOR_NEAR(w.grad(), gw, (Shape{out, in}), 8 * tol_of(dt));
      if (c.bias) {
        EXPECT_TENSOR_NEAR(b.grad(), gb, Shape{out}, 8 * tol_of(dt));
      }
    }
  }
}

TEST(Linear, BroadcastBiasShapes) {
  // A 0-d or (1, out) bias broadcasts over the rows; its grad is the upstream summed to its shape.
  const Tensor x = lit({3, 2}, {1, 2, 3, 4, 5, 6});
  const Tensor w = lit({2, 2}, {1, 0, 0, 1});
  const Tensor b0 = leaf({}, {1});
  const Tensor y0 = linear(x, w, b0);
  EXPECT_TENSOR_NEAR(y0, (std::vector<double>{2, 3, 4, 5, 6, 7}), (Shape{3, 2}), 0.0);
  y0.backward(Tensor::ones({3, 2}, kF64));
  EXPECT_TENSOR_NEAR(b0.grad(), {6}, Shape{}, 0.0);
  const Tensor b1 = leaf({1, 2}, {1, -1});
  linear(x, w, b1).backward(Tensor::ones({3, 2}, kF64));
  EXPECT_TENSOR_NEAR(b1.grad(), (std::vector<double>{3, 3}), (Shape{1, 2}), 0.0);
}

TEST(Linear, Errors) {
  EXPECT_ERROR(linear(Tensor::ones({8, 5}), Tensor::ones({2, 4})), Shape,
               "mat1 and mat2 shapes cannot be multiplied (8x5 and 4x2)");
  EXPECT_ERROR(linear(Tensor::ones({8, 5}), Tensor::ones({2, 5}), Tensor::ones({3})), Shape,
               "The expanded size of the tensor (2) must match the existing size (3) at non-singleton dimension 1",
               "Target sizes: [8, 2]", "Tensor sizes: [3]");
  EXPECT_ERROR(linear(Tensor::ones({8, 5}), Tensor::ones({2, 5}), Tensor::ones({1, 8, 2})), Shape, "[1, 8, 2]");
  EXPECT_ERROR(linear(Tensor::scalar(1), Tensor::ones({2, 3})), Shape, "at least 1D", "0D and 2D");
  EXPECT_ERROR(linear(Tensor::ones({2, 3}), Tensor::ones({3})), Shape, "mat2 must be a matrix");
  EXPECT_ERROR(linear(Tensor::ones({2, 2}), Tensor::ones({2, 2}, kF64)), DType,
               "expected scalar type Float but found Double");
}

}  // namespace
}  // namespace gradoracle

// Second order: matmul over every rank combination and linear by rank and bias differentiate
// again (second_order_matches_fd); their gradients' grad_fn names are PyTorch 1.13's (printed by
// torch: grad of each input; the same with a constant upstream and one requiring grad, "nograd"
// for an input's gradient when only that input requires grad and the upstream is constant).
namespace gradoracle {
namespace {
using namespace test;

Tensor ramp_leaf(const Shape& shape) { return Tensor::from_data(shape, ramp(numel(shape)), kF64, true); }

struct LinalgCase {
  Shape a, b, c;  // c: linear's bias (empty: none); matmul when b is given and c is empty
  std::vector<std::string> names;  // torch 1.13's, one per input
};

const std::vector<LinalgCase>& matmul_cases() {
  static const std::vector<LinalgCase> cases = {
      {{3}, {3}, {}, {"MulBackward0", "MulBackward0"}},
      {{3}, {3, 2}, {}, {"SqueezeBackward1", "MmBackward0"}},
      {{3}, {4, 3, 2}, {}, {"MvBackward0", "TransposeBackward0"}},
      {{3}, {5, 1, 3, 2}, {}, {"MvBackward0", "TransposeBackward0"}},
      {{2, 3}, {3}, {}, {"MulBackward0", "MvBackward0"}},
      {{2, 3}, {3, 2}, {}, {"MmBackward0", "MmBackward0"}},
      {{2, 3}, {4, 3, 2}, {}, {"TBackward0", "TransposeBackward0"}},
      {{2, 3}, {5, 1, 3, 2}, {}, {"TBackward0", "TransposeBackward0"}},
      {{4, 2, 3}, {3}, {}, {"ReshapeAliasBackward0", "MvBackward0"}},
      {{4, 2, 3}, {3, 2}, {}, {"ReshapeAliasBackward0", "MmBackward0"}},
      {{4, 2, 3}, {4, 3, 2}, {}, {"ReshapeAliasBackward0", "ReshapeAliasBackward0"}},
      {{4, 2, 3}, {5, 1, 3, 2}, {}, {"ViewBackward0", "SumBackward1"}},
      {{5, 4, 2, 3}, {3}, {}, {"ReshapeAliasBackward0", "MvBackward0"}},
      {{5, 4, 2, 3}, {3, 2}, {}, {"ReshapeAliasBackward0", "MmBackward0"}},
      {{5, 4, 2, 3}, {4, 3, 2}, {}, {"ReshapeAliasBackward0", "ViewBackward0"}},
      {{1, 2, 3}, {4, 3, 2}, {}, {"SumBackward1", "ReshapeAliasBackward0"}},
  };
  return cases;
}

// x, weight (5, 3), bias; the bias's gradient is "nograd" under a constant upstream (it does not
// depend on x or weight), the upstream itself when shapes agree (a leaf: "nograd").
const std::vector<LinalgCase>& linear_cases() {
  static const std::vector<LinalgCase> cases = {
      {{3}, {5, 3}, {5}, {"SqueezeBackward1", "TBackward0", "nograd"}},
      {{3}, {5, 3}, {}, {"SqueezeBackward1", "TBackward0"}},
      {{2, 3}, {5, 3}, {5}, {"MmBackward0", "TBackward0", "ViewBackward0"}},
      {{2, 3}, {5, 3}, {}, {"MmBackward0", "TBackward0"}},
      {{4, 2, 3}, {5, 3}, {5}, {"ReshapeAliasBackward0", "TBackward0", "ViewBackward0"}},
      {{4, 2, 3}, {5, 3}, {}, {"ReshapeAliasBackward0", "TBackward0"}},
  };
  return cases;
}

std::vector<Tensor> inputs_of(const LinalgCase& c) {
  std::vector<Tensor> in = {ramp_leaf(c.a), ramp_leaf(c.b)};
  if (!c.c.empty()) in.push_back(ramp_leaf(c.c));
  return in;
}

// Only input i requires grad.
std::vector<Tensor> only(std::vector<Tensor> in, size_t i) {
  for (size_t k = 0; k < in.size(); ++k) in[k] = in[k].detach().requires_grad_(k == i);
  return in;
}

Tensor matmul_of(const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }
Tensor linear_of(const std::vector<Tensor>& in) { return linear(in[0], in[1], in.size() > 2 ? in[2] : Tensor()); }

TEST(LinalgSecondOrder, MatchesFiniteDifferencesOfTheFirstBackward) {
  for (const LinalgCase& c : matmul_cases()) {
    SCOPED_TRACE("matmul " + to_string(c.a) + " " + to_string(c.b));
    EXPECT_TRUE(second_order_matches_fd(matmul_of, inputs_of(c)));
  }
  for (const LinalgCase& c : linear_cases()) {
    SCOPED_TRACE("linear " + to_string(c.a) + " bias " + to_string(c.c));
    EXPECT_TRUE(second_order_matches_fd(linear_of, inputs_of(c)));
  }
}

TEST(LinalgSecondOrder, GradFnNamesArePyTorchsAndNoGraphWithoutCreateGraph) {
  const auto check = [](const auto& f, const LinalgCase& c) {
    std::vector<std::string> const_up = c.names;
    if (const_up.size() == 3) const_up[2] = "nograd";
    EXPECT_EQ(grad_fn_names(f, inputs_of(c), false), const_up);
    EXPECT_EQ(grad_fn_names(f, inputs_of(c), true), c.names);
    for (const std::string& n : grad_fn_names(f, inputs_of(c), true, false)) EXPECT_EQ(n, "nograd");
    for (size_t i = 0; i < c.names.size(); ++i) {
      EXPECT_EQ(grad_fn_names(f, only(inputs_of(c), i), false), std::vector<std::string>{"nograd"});
      EXPECT_EQ(grad_fn_names(f, only(inputs_of(c), i), true), std::vector<std::string>{c.names[i]});
    }
  };
  for (const LinalgCase& c : matmul_cases()) {
    SCOPED_TRACE("matmul " + to_string(c.a) + " " + to_string(c.b));
    check(matmul_of, c);
  }
  for (const LinalgCase& c : linear_cases()) {
    SCOPED_TRACE("linear " + to_string(c.a) + " bias " + to_string(c.c));
    check(linear_of, c);
  }
}

}  // namespace
}  // namespace gradoracle
