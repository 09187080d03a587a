// Elementwise ops: values and gradients from their closed forms, in float32 and float64, with
// broadcasting, Python-number operands, 0-d and zero-size tensors, PyTorch's names and errors.
#include <cstdint>
#include <cstring>

#include "test_util.hpp"

namespace gradoracle {
namespace {
using namespace test;

struct UnaryCase {
  const char* grad_fn;
  Tensor (*op)(const Tensor&);
  double (*f)(double);
  double (*df)(double);  // the derivative, from the math
  std::vector<double> xs;
};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"NegBackward0", neg, [](double x) { return -x; }, [](double) { return -1.0; }, {-1.5, 0, 2}},
      {"ExpBackward0", exp, [](double x) { return std::exp(x); }, [](double x) { return std::exp(x); }, {-1, 0, 0.5}},
      {"LogBackward0", log, [](double x) { return std::log(x); }, [](double x) { return 1 / x; }, {0.25, 1, 3}},
      {"SqrtBackward0", sqrt, [](double x) { return std::sqrt(x); }, [](double x) { return 0.5 / std::sqrt(x); },
       {0.25, 1, 4}},
      {"SinBackward0", sin, [](double x) { return std::sin(x); }, [](double x) { return std::cos(x); }, {-1, 0, 2}},
      {"CosBackward0", cos, [](double x) { return std::cos(x); }, [](double x) { return -std::sin(x); }, {-1, 0, 2}},
      {"TanhBackward0", tanh, [](double x) { return std::tanh(x); },
       [](double x) { return 1 - std::tanh(x) * std::tanh(x); }, {-2, 0, 0.5}},
      {"SigmoidBackward0", sigmoid, sig, [](double x) { return sig(x) * (1 - sig(x)); }, {-3, 0, 1}},
      {"ReluBackward0", relu, [](double x) { return x > 0 ? x : 0.0; }, [](double x) { return x > 0 ? 1.0 : 0.0; },
       {-1, 0, 2}},
      {"AbsBackward0", abs, [](double x) { return std::abs(x); },
       [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }, {-1, 0, 2}},
  };
  return cases;
}

TEST(Unary, ValuesGradsAndNamesInBothDTypes) {
  for (const UnaryCase& c : unary_cases()) {
    SCOPED_TRACE(c.grad_fn);
    for (DType dt : kDTypes) {
      const Tensor x = leaf({3}, c.xs, dt);
      const Tensor y = c.op(x);
      EXPECT_EQ(y.grad_fn_name(), c.grad_fn);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_TENSOR_NEAR(y, apply(c.xs, c.f), Shape{3}, tol_of(dt));
      const std::vector<double> g = {0.5, -2, 3};
      y.backward(lit({3}, g, dt));
      std::vector<double> expected = apply(c.xs, c.df);
      for (size_t i = 0; i < g.size(); ++i) expected[i] *= g[i];
      EXPECT_TENSOR_NEAR(x.grad(), expected, Shape{3}, tol_of(dt));
    }
  }
}

TEST(Unary, ZeroDAndZeroSize) {
  for (const UnaryCase& c : unary_cases()) {
    SCOPED_TRACE(c.grad_fn);
    const Tensor s = leaf({}, {c.xs[2]});
    const Tensor y = c.op(s);
    EXPECT_EQ(y.shape(), Shape{});
    y.backward();
    EXPECT_TENSOR_NEAR(s.grad(), {c.df(c.xs[2])}, Shape{}, 1e-12);
    const Tensor e = Tensor::zeros({2, 0}, kF32).requires_grad_();
    const Tensor ye = c.op(e);
    EXPECT_EQ(ye.shape(), (Shape{2, 0}));
    ye.backward(Tensor::zeros({2, 0}, kF32));
    EXPECT_EQ(e.grad().shape(), (Shape{2, 0}));
  }
}

TEST(Unary, KinksAndNaNAsPyTorch) {
  // NOTE points: relu'(0) = 0, relu'(NaN) = 1 (relu(NaN) = NaN); |x|' = sgn x with sgn(0) = sgn(NaN) = 0.
  const Tensor x = leaf({3}, {0, kNaN, -0.0});
  const Tensor r = relu(x);
  EXPECT_TENSOR_NEAR(r, (std::vector<double>{0, kNaN, 0}), Shape{3}, 0.0);
  r.backward(Tensor::ones({3}, kF64));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{0, 1, 0}), Shape{3}, 0.0);
  const Tensor z = leaf({3}, {0, kNaN, -0.0});
  abs(z).backward(Tensor::ones({3}, kF64));
  EXPECT_TENSOR_NEAR(z.grad(), (std::vector<double>{0, 0, 0}), Shape{3}, 0.0);
  // sigmoid saturates without NaN; log(0) = -inf with gradient +inf.
  EXPECT_TENSOR_NEAR(sigmoid(lit({3}, {-1000, 1000, kNaN})), (std::vector<double>{0, 1, kNaN}), Shape{3}, 0.0);
  const Tensor l = leaf({1}, {0});
  const Tensor ly = log(l);
  EXPECT_TENSOR_NEAR(ly, {-kInf}, Shape{1}, 0.0);
  ly.backward(Tensor::ones({1}, kF64));
  EXPECT_TENSOR_NEAR(l.grad(), {kInf}, Shape{1}, 0.0);
}

// ---------------------------------------------------------------- binary
struct BinaryCase {
  const char* name;
  Tensor (*op)(const Tensor&, const Tensor&);
  double (*f)(double, double);
  double (*da)(double, double);
  double (*db)(double, double);
};

const std::vector<BinaryCase>& binary_cases() {
  static const std::vector<BinaryCase> cases = {
      {"AddBackward0", add, [](double a, double b) { return a + b; }, [](double, double) { return 1.0; },
       [](double, double) { return 1.0; }},
      {"SubBackward0", sub, [](double a, double b) { return a - b; }, [](double, double) { return 1.0; },
       [](double, double) { return -1.0; }},
      {"MulBackward0", mul, [](double a, double b) { return a * b; }, [](double, double b) { return b; },
       [](double a, double) { return a; }},
      {"DivBackward0", div, [](double a, double b) { return a / b; }, [](double, double b) { return 1 / b; },
       [](double a, double b) { return -a / (b * b); }},
      {"PowBackward1", pow, [](double a, double b) { return std::pow(a, b); },
       [](double a, double b) { return b * std::pow(a, b - 1); },
       [](double a, double b) { return std::pow(a, b) * std::log(a); }},
  };
  return cases;
}

// a (2, 3) op b (3): values f(a[i][j], b[j]); grad a = upstream · ∂f/∂a, grad b = Σ over rows.
TEST(Binary, BroadcastValuesAndGradsSummedToEachShape) {
  const std::vector<double> av = {0.5, 1, 2, 3, 1.5, 0.25}, bv = {2, 0.5, 3};
  for (const BinaryCase& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    for (DType dt : kDTypes) {
      const Tensor a = leaf({2, 3}, av, dt), b = leaf({3}, bv, dt);
      const Tensor y = c.op(a, b);
      EXPECT_EQ(y.grad_fn_name(), c.name);
      std::vector<double> value, ga, gb(3, 0.0);
      for (size_t i = 0; i < 6; ++i) {
        value.push_back(c.f(av[i], bv[i % 3]));
        ga.push_back(c.da(av[i], bv[i % 3]));
        gb[i % 3] += c.db(av[i], bv[i % 3]);
      }
      EXPECT_TENSOR_NEAR(y, value, (Shape{2, 3}), tol_of(dt));
      y.backward(Tensor::ones({2, 3}, dt));
      EXPECT_TENSOR_NEAR(a.grad(), ga, (Shape{2, 3}), 4 * tol_of(dt));
      EXPECT_TENSOR_NEAR(b.grad(), gb, Shape{3}, 4 * tol_of(dt));
    }
  }
}

// (2, 1) op (1, 3) -> (2, 3); 0-d op (2, 2); size-1 dims and rank differences both ways.
TEST(Binary, BroadcastShapesBothWaysZeroDAndSizeOne) {
  for (const BinaryCase& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor a = leaf({2, 1}, {1.5, 2}), b = leaf({1, 3}, {0.5, 1, 2});
    const Tensor y = c.op(a, b);
    EXPECT_EQ(y.shape(), (Shape{2, 3}));
    y.backward(Tensor::ones({2, 3}, kF64));
    std::vector<double> ga(2, 0.0), gb(3, 0.0);
    for (size_t i = 0; i < 2; ++i) {
      for (size_t j = 0; j < 3; ++j) {
        const double av = a.to_vector()[i], bv = b.to_vector()[j];
        EXPECT_NEAR(y.at({static_cast<int64_t>(i), static_cast<int64_t>(j)}), c.f(av, bv), 1e-12);
        ga[i] += c.da(av, bv);
        gb[j] += c.db(av, bv);
      }
    }
    EXPECT_TENSOR_NEAR(a.grad(), ga, (Shape{2, 1}), 1e-12);
    EXPECT_TENSOR_NEAR(b.grad(), gb, (Shape{1, 3}), 1e-12);

    const Tensor s = leaf({}, {2}), m = leaf({1, 2, 2}, {0.5, 1, 1.5, 3});
    const Tensor z = c.op(s, m);
    EXPECT_EQ(z.shape(), (Shape{1, 2, 2}));
    z.backward(Tensor::ones({1, 2, 2}, kF64));
    double gs = 0;
    std::vector<double> gm;
    for (double v : m.to_vector()) {
      gs += c.da(2, v);
      gm.push_back(c.db(2, v));
    }
    EXPECT_TENSOR_NEAR(s.grad(), {gs}, Shape{}, 1e-12);
    EXPECT_TENSOR_NEAR(m.grad(), gm, (Shape{1, 2, 2}), 1e-12);
  }
}

TEST(Binary, ZeroSizeBroadcast) {
  const Tensor a = Tensor::zeros({0, 3}, kF64).requires_grad_();
  const Tensor b = leaf({3}, {1, 2, 3});
  const Tensor y = a * b;
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y.backward(Tensor::zeros({0, 3}, kF64));
  EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{0, 0, 0}), Shape{3}, 0.0);  // an empty sum
  EXPECT_EQ(a.grad().shape(), (Shape{0, 3}));
}

TEST(Binary, ShapeErrorsNameBothSizesAndTheDim) {
  EXPECT_ERROR(add(lit({3}, {1, 2, 3}), lit({2}, {1, 2})), Shape,
               "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 0");
  EXPECT_ERROR(mul(Tensor::ones({2, 3}), Tensor::ones({4, 1, 2})), Shape,
               "The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 2");
  EXPECT_ERROR(pow(Tensor::ones({2}), Tensor::ones({3})), Shape, "tensor a (2)", "tensor b (3)");
}

// Python numbers: y op 2 and 2 op y keep y's dtype (a wrapped number does not promote).
TEST(Binary, PythonNumberOperands) {
  const std::vector<double> xv = {0.5, 2, 4};
  for (DType dt : kDTypes) {
    const auto check = [&](const char* name, const std::function<Tensor(const Tensor&)>& f, double (*v)(double),
                           double (*d)(double)) {
      SCOPED_TRACE(name);
      const Tensor x = leaf({3}, xv, dt);
      const Tensor y = f(x);
      EXPECT_EQ(y.grad_fn_name(), name);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_TENSOR_NEAR(y, apply(xv, v), Shape{3}, tol_of(dt));
      y.backward(Tensor::ones({3}, dt));
      EXPECT_TENSOR_NEAR(x.grad(), apply(xv, d), Shape{3}, tol_of(dt));
    };
    check("AddBackward0", [](const Tensor& x) { return x + 2; }, [](double x) { return x + 2; },
          [](double) { return 1.0; });
    check("AddBackward0", [](const Tensor& x) { return 2 + x; }, [](double x) { return 2 + x; },
          [](double) { return 1.0; });
    check("SubBackward0", [](const Tensor& x) { return x - 2; }, [](double x) { return x - 2; },
          [](double) { return 1.0; });
    check("RsubBackward1", [](const Tensor& x) { return 1 - x; }, [](double x) { return 1 - x; },
          [](double) { return -1.0; });
    check("MulBackward0", [](const Tensor& x) { return x * 2; }, [](double x) { return 2 * x; },
          [](double) { return 2.0; });
    check("MulBackward0", [](const Tensor& x) { return 2 * x; }, [](double x) { return 2 * x; },
          [](double) { return 2.0; });
    check("DivBackward0", [](const Tensor& x) { return x / 2; }, [](double x) { return x / 2; },
          [](double) { return 0.5; });
    // 2 / x is x.reciprocal() * 2 in PyTorch: MulBackward0; d/dx 2/x = -2/x²
    check("MulBackward0", [](const Tensor& x) { return 2 / x; }, [](double x) { return 2 / x; },
          [](double x) { return -2 / (x * x); });
    check("PowBackward0", [](const Tensor& x) { return pow(x, 2.0); }, [](double x) { return x * x; },
          [](double x) { return 2 * x; });
    check("PowBackward0", [](const Tensor& x) { return pow(x, -0.5); }, [](double x) { return 1 / std::sqrt(x); },
          [](double x) { return -0.5 * std::pow(x, -1.5); });
    // 2 ** x: PowBackward1 in PyTorch 1.13; d/dx 2ˣ = 2ˣ·ln 2
    check("PowBackward1", [](const Tensor& x) { return pow(2.0, x); }, [](double x) { return std::pow(2.0, x); },
          [](double x) { return std::pow(2.0, x) * std::log(2.0); });
    check("NegBackward0", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, [](double) { return -1.0; });
  }
}

TEST(Binary, PowMasksAsPyTorch) {
  // d/da aᵇ is 0 where b = 0 (also at a = 0); d/db aᵇ is 0 where a = 0 and b >= 0.
  const Tensor a = leaf({4}, {0, 0, 2, -1}), b = leaf({4}, {0, 2, 0, 0.5});
  const Tensor y = pow(a, b);
  EXPECT_TENSOR_NEAR(y, (std::vector<double>{1, 0, 1, kNaN}), Shape{4}, 0.0);
  y.backward(Tensor::ones({4}, kF64));
  EXPECT_TENSOR_NEAR(a.grad(), (std::vector<double>{0, 0, 0, kNaN}), Shape{4}, 0.0);
  EXPECT_TENSOR_NEAR(b.grad(), (std::vector<double>{0, 0, std::log(2.0), kNaN}), Shape{4}, 1e-15);
  // x ** 0: grad exactly zero, even at 0; x ** -1 at 0: -inf.
  const Tensor x = leaf({2}, {0, 3});
  pow(x, 0.0).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{0, 0}), Shape{2}, 0.0);
  const Tensor z = leaf({1}, {0});
  pow(z, -1.0).backward(Tensor::ones({1}, kF64));
  EXPECT_TENSOR_NEAR(z.grad(), {-kInf}, Shape{1}, 0.0);
  // 0 ** e with e < 0 has d/de = 0^e·log 0 = inf·(-inf) = -inf, unmasked.
  const Tensor e = leaf({2}, {-1, 1});
  pow(0.0, e).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(e.grad(), (std::vector<double>{-kInf, 0}), Shape{2}, 0.0);
}

TEST(Binary, DTypePromotionAsPyTorch) {
  // Two dimensioned tensors: the wider dtype. A 0-d tensor does not widen a dimensioned one.
  EXPECT_EQ(add(Tensor::ones({2}, kF32), Tensor::ones({2}, kF64)).dtype(), kF64);
  EXPECT_EQ(add(Tensor::ones({2}, kF32), Tensor::scalar(1, kF64)).dtype(), kF32);
  EXPECT_EQ(add(Tensor::scalar(1, kF64), Tensor::ones({2}, kF32)).dtype(), kF32);
  EXPECT_EQ(add(Tensor::scalar(1, kF32), Tensor::scalar(1, kF64)).dtype(), kF64);
  // The 0-d float64 operand still gets a float64 gradient.
  const Tensor s = leaf({}, {3});
  const Tensor v = leaf({2}, {1, 2}, kF32);
  (s * v).backward(Tensor::ones({2}, kF32));
  EXPECT_EQ(s.grad().dtype(), kF64);
  EXPECT_TENSOR_NEAR(s.grad(), {3}, Shape{}, 0.0);
  EXPECT_EQ(v.grad().dtype(), kF32);
  EXPECT_TENSOR_NEAR(v.grad(), (std::vector<double>{3, 3}), Shape{2}, 0.0);
}

TEST(Binary, SameTensorOnBothSides) {
  // x·x: d/dx = 2x; x/x: d/dx = 1/x - x/x² = 0.
  const Tensor x = leaf({2}, {3, -2});
  (x * x).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(x.grad(), (std::vector<double>{6, -4}), Shape{2}, 0.0);
  const Tensor y = leaf({2}, {3, -2});
  (y / y).backward(Tensor::ones({2}, kF64));
  EXPECT_TENSOR_NEAR(y.grad(), (std::vector<double>{0, 0}), Shape{2}, 1e-15);
}

}  // namespace
}  // namespace gradoracle

namespace gradoracle {
namespace {
using namespace test;

// tensor ∘ number skips the wrapped 0-d tensor when nothing is recorded; the reference is the
// same op with the number as a 0-d tensor of the tensor's dtype (what the number is wrapped as):
// the same bits, shape, layout and (with grad) grad_fn.
TEST(Binary, NumberOperandMatchesWrappedTensorBitForBit) {
  Generator gen(11);
  const std::vector<Shape> shapes = {{}, {0}, {5}, {2, 3}, {3, 1, 2}};
  const double numbers[] = {2.5, -0.0, 1e-7, 3.0e5, 0.1};
  for (DType dt : kDTypes) {
    for (const Shape& shape : shapes) {
      for (double x : numbers) {
        for (bool grad : {false, true}) {
          Tensor a = Tensor::randn(shape, gen, dt);
          a.requires_grad_(grad);
          const Tensor w = Tensor::scalar(x, dt);
          const auto same = [&](const Tensor& got, const Tensor& want) {
            EXPECT_EQ(value_bits(got), value_bits(want)) << to_string(shape) << " " << x;
            EXPECT_EQ(got.shape(), want.shape());
            EXPECT_EQ(got.dtype(), want.dtype());
            EXPECT_EQ(got.stride(), want.stride());
            EXPECT_EQ(got.grad_fn_name(), want.grad_fn_name());
          };
          same(add(a, x), add(a, w));
          same(add(x, a), add(a, w));
          same(sub(a, x), sub(a, w));
          same(mul(a, x), mul(a, w));
          same(mul(x, a), mul(a, w));
          same(div(a, x), div(a, w));
          const Tensor r = sub(x, a);  // rsub: x - a[i]
          EXPECT_EQ(value_bits(r), value_bits(sub(w, a)));
          EXPECT_EQ(r.grad_fn_name(), grad ? "RsubBackward1" : "");
          NoGradGuard no_grad;
          same(div(a, x), div(a, w));
          same(mul(x, a), mul(a, w));
        }
      }
    }
    // A transposed (strided) operand keeps the general path: the result follows its layout.
    const Tensor m = t(Tensor::randn({2, 3}, gen, dt));
    EXPECT_EQ(mul(m, 2.0).stride(), mul(m, Tensor::scalar(2.0, dt)).stride());
    EXPECT_EQ(value_bits(mul(m, 2.0)), value_bits(mul(m, Tensor::scalar(2.0, dt))));
  }
}

}  // namespace
}  // namespace gradoracle

// ---------------------------------------------------------------- second order (create_graph)
namespace gradoracle {
namespace {
using namespace test;
using Ins = std::vector<Tensor>;
using Program = std::function<Tensor(const Ins&)>;

struct SecondOrderCase {
  const char* name;
  Program f;
  Ins inputs;  // leaves require grad; constants are passed through
};

// Every elementwise op at points inside its domain and off its kinks (relu and abs away from 0),
// binary ops broadcasting (2, 3) against (3), one operand constant, and Python-number operands.
std::vector<SecondOrderCase> second_order_cases() {
  const Tensor x = leaf({2, 3}, {-1.3, 0.4, 2.0, -0.6, 1.1, -2.2});  // any sign
  const Tensor p = leaf({2, 3}, {0.5, 1.5, 2.0, 0.7, 1.2, 2.5});     // positive
  const Tensor b = leaf({3}, {2.0, 0.5, 1.5});
  const Tensor bc = lit({3}, {2.0, 0.5, 1.5}), pc = lit({2, 3}, {0.5, 1.5, 2.0, 0.7, 1.2, 2.5});
  return {
      {"neg", [](const Ins& in) { return neg(in[0]); }, {x}},
      {"exp", [](const Ins& in) { return exp(in[0]); }, {x}},
      {"log", [](const Ins& in) { return log(in[0]); }, {p}},
      {"log1p", [](const Ins& in) { return log1p(in[0]); }, {p}},
      {"sqrt", [](const Ins& in) { return sqrt(in[0]); }, {p}},
      {"sin", [](const Ins& in) { return sin(in[0]); }, {x}},
      {"cos", [](const Ins& in) { return cos(in[0]); }, {x}},
      {"tanh", [](const Ins& in) { return tanh(in[0]); }, {x}},
      {"sigmoid", [](const Ins& in) { return sigmoid(in[0]); }, {x}},
      {"relu", [](const Ins& in) { return relu(in[0]); }, {x}},
      {"abs", [](const Ins& in) { return abs(in[0]); }, {x}},
      {"add", [](const Ins& in) { return add(in[0], in[1]); }, {x, b}},
      {"sub", [](const Ins& in) { return sub(in[0], in[1]); }, {x, b}},
      {"mul", [](const Ins& in) { return mul(in[0], in[1]); }, {x, b}},
      {"div", [](const Ins& in) { return div(in[0], in[1]); }, {x, b}},
      {"pow", [](const Ins& in) { return pow(in[0], in[1]); }, {p, b}},
      {"mul, b constant", [](const Ins& in) { return mul(in[0], in[1]); }, {x, bc}},
      {"div, b constant", [](const Ins& in) { return div(in[0], in[1]); }, {x, bc}},
      {"pow, base constant", [](const Ins& in) { return pow(in[0], in[1]); }, {pc, b}},
      {"x + 2", [](const Ins& in) { return in[0] + 2; }, {x}},
      {"2 + x", [](const Ins& in) { return 2 + in[0]; }, {x}},
      {"x - 2", [](const Ins& in) { return in[0] - 2; }, {x}},
      {"1 - x", [](const Ins& in) { return 1 - in[0]; }, {x}},
      {"x * 2", [](const Ins& in) { return in[0] * 2; }, {x}},
      {"2 * x", [](const Ins& in) { return 2 * in[0]; }, {x}},
      {"x / 2", [](const Ins& in) { return in[0] / 2; }, {x}},
      {"2 / x", [](const Ins& in) { return 2 / in[0]; }, {x}},
      {"x ** 2.5", [](const Ins& in) { return pow(in[0], 2.5); }, {p}},
      {"x ** -1.5", [](const Ins& in) { return pow(in[0], -1.5); }, {p}},
      {"2 ** x", [](const Ins& in) { return pow(2.0, in[0]); }, {x}},
  };
}

TEST(SecondOrder, EveryOpMatchesFiniteDifferencesOfItsFirstBackward) {
  for (const SecondOrderCase& c : second_order_cases()) {
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(second_order_matches_fd(c.f, c.inputs));
  }
}

// The grad_fn names of torch.autograd.grad(y, inputs, upstream, create_graph=True) in PyTorch
// 1.13, with a constant upstream and with one that requires grad ("" = no grad_fn); inputs of
// shape (3), so that no broadcast reduction is involved.
struct NamesCase {
  const char* name;
  Program f;
  size_t arity;
  std::vector<std::string> const_up, grad_up;
};

TEST(SecondOrder, CreateGraphResultsHavePyTorchsGradFnNames) {
  const std::vector<NamesCase> cases = {
      {"neg", [](const Ins& in) { return neg(in[0]); }, 1, {""}, {"NegBackward0"}},
      {"exp", [](const Ins& in) { return exp(in[0]); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"log", [](const Ins& in) { return log(in[0]); }, 1, {"DivBackward0"}, {"DivBackward0"}},
      {"log1p", [](const Ins& in) { return log1p(in[0]); }, 1, {"DivBackward0"}, {"DivBackward0"}},
      {"sqrt", [](const Ins& in) { return sqrt(in[0]); }, 1, {"DivBackward0"}, {"DivBackward0"}},
      {"sin", [](const Ins& in) { return sin(in[0]); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"cos", [](const Ins& in) { return cos(in[0]); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"tanh", [](const Ins& in) { return tanh(in[0]); }, 1, {"TanhBackwardBackward0"}, {"TanhBackwardBackward0"}},
      {"sigmoid", [](const Ins& in) { return sigmoid(in[0]); }, 1, {"SigmoidBackwardBackward0"},
       {"SigmoidBackwardBackward0"}},
      {"relu", [](const Ins& in) { return relu(in[0]); }, 1, {"ThresholdBackwardBackward0"},
       {"ThresholdBackwardBackward0"}},
      {"abs", [](const Ins& in) { return abs(in[0]); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"add", [](const Ins& in) { return add(in[0], in[1]); }, 2, {"", ""}, {"", ""}},
      {"sub", [](const Ins& in) { return sub(in[0], in[1]); }, 2, {"", ""}, {"", "NegBackward0"}},
      {"mul", [](const Ins& in) { return mul(in[0], in[1]); }, 2, {"MulBackward0", "MulBackward0"},
       {"MulBackward0", "MulBackward0"}},
      {"div", [](const Ins& in) { return div(in[0], in[1]); }, 2, {"DivBackward0", "MulBackward0"},
       {"DivBackward0", "MulBackward0"}},
      {"pow", [](const Ins& in) { return pow(in[0], in[1]); }, 2, {"WhereBackward0", "MulBackward0"},
       {"WhereBackward0", "MulBackward0"}},
      {"x + 2", [](const Ins& in) { return in[0] + 2; }, 1, {""}, {""}},
      {"2 + x", [](const Ins& in) { return 2 + in[0]; }, 1, {""}, {""}},
      {"x - 2", [](const Ins& in) { return in[0] - 2; }, 1, {""}, {""}},
      {"1 - x", [](const Ins& in) { return 1 - in[0]; }, 1, {""}, {"NegBackward0"}},
      {"x * 2", [](const Ins& in) { return in[0] * 2; }, 1, {""}, {"MulBackward0"}},
      {"2 * x", [](const Ins& in) { return 2 * in[0]; }, 1, {""}, {"MulBackward0"}},
      {"x / 2", [](const Ins& in) { return in[0] / 2; }, 1, {""}, {"DivBackward0"}},
      {"2 / x", [](const Ins& in) { return 2 / in[0]; }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"x ** 2.5", [](const Ins& in) { return pow(in[0], 2.5); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"x ** 0", [](const Ins& in) { return pow(in[0], 0.0); }, 1, {""}, {""}},
      {"2 ** x", [](const Ins& in) { return pow(2.0, in[0]); }, 1, {"MulBackward0"}, {"MulBackward0"}},
      {"to float32", [](const Ins& in) { return in[0].to(kF32); }, 1, {""}, {"ToCopyBackward0"}},
  };
  const std::vector<double> values[] = {{0.5, 1.5, 2.0}, {2.0, 0.5, 3.0}};
  for (const NamesCase& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor u;  // the last call's upstream
    const auto grads_of = [&](bool upstream_requires_grad, bool create_graph) {
      Ins xs;
      for (size_t k = 0; k < c.arity; ++k) xs.push_back(leaf({3}, values[k]));
      const Tensor y = c.f(xs);
      u = Tensor::ones(y.shape(), y.dtype()).requires_grad_(upstream_requires_grad);
      autograd::GradOptions o;
      o.create_graph = create_graph;
      return autograd::grad({y}, xs, {u}, o);
    };
    for (bool up : {false, true}) {
      const Ins g = grads_of(up, true);
      for (size_t k = 0; k < c.arity; ++k) EXPECT_EQ(g[k].grad_fn_name(), (up ? c.grad_up : c.const_up)[k]) << k;
    }
    // create_graph=false: no graph, whatever the upstream, except the upstream itself passed
    // through unchanged (add's, x + 2's), which PyTorch hands back as it is.
    for (const Tensor& g : grads_of(true, false)) {
      if (g.is_same(u)) continue;
      EXPECT_EQ(g.grad_fn_name(), "");
      EXPECT_FALSE(g.requires_grad());
    }
  }
}

TEST(SecondOrder, PowMasksAndKinksAsPyTorch) {
  // pow(x, e) at x = (0, 1, -2), e = (0, 2, 3), upstream ones: ∂/∂x = (0 [masked: e = 0], 2, 12),
  // ∂/∂e = (0 [masked: x = 0, e >= 0], 1·log 1 = 0, (-2)³·log(-2) = NaN). Differentiating their sum
  // again: at (1, 2), ∂/∂x = e(e-1)x^(e-2) + e·x^(e-1)·log x + x^(e-1) = 3 and ∂/∂e = x^(e-1) +
  // e·x^(e-1)·log x + x^e·log² x = 1; at (0, 0) the masked branches' backwards multiply the 0
  // they receive by 0^(e-2) = inf and log 0 = -inf (NaN), and log(-2) is NaN: PyTorch 1.13 gives
  // ∂/∂x = (NaN, 3, NaN), ∂/∂e = (NaN, 1, NaN).
  const Tensor x = leaf({3}, {0, 1, -2}), e = leaf({3}, {0, 2, 3});
  autograd::GradOptions cg;
  cg.create_graph = true;
  const Ins g = autograd::grad({pow(x, e)}, {x, e}, {Tensor::ones({3}, kF64)}, cg);
  EXPECT_TENSOR_NEAR(g[0], (std::vector<double>{0, 2, 12}), Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(g[1], (std::vector<double>{0, 0, kNaN}), Shape{3}, 1e-15);
  const Ins h = autograd::grad({sum(g[0]) + sum(g[1])}, {x, e});
  EXPECT_TENSOR_NEAR(h[0], (std::vector<double>{kNaN, 3, kNaN}), Shape{3}, 1e-15);
  EXPECT_TENSOR_NEAR(h[1], (std::vector<double>{kNaN, 1, kNaN}), Shape{3}, 1e-15);

  // relu and abs at their kinks: ∂/∂u of relu's gradient u·relu'(x) is relu'(x) with relu'(0) = 0,
  // of abs's u·sgn x is sgn x with sgn 0 = 0; ∂/∂x is 0 everywhere (a zero tensor, as PyTorch's).
  const auto kink = [&](Tensor (*op)(const Tensor&), const std::vector<double>& d_du) {
    const Tensor z = leaf({3}, {0, 2, -1});
    const Tensor u = leaf({3}, {1, 1, 1});
    const Ins gz = autograd::grad({op(z)}, {z}, {u}, cg);
    const Ins hz = autograd::grad({sum(gz[0])}, {z, u});
    EXPECT_TENSOR_NEAR(hz[0], (std::vector<double>{0, 0, 0}), Shape{3}, 0.0);
    EXPECT_TENSOR_NEAR(hz[1], d_du, Shape{3}, 0.0);
  };
  kink(relu, {0, 1, 0});
  kink(abs, {0, 1, -1});
}

}  // namespace
}  // namespace gradoracle
