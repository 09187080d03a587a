#include <iostream>
#include <vector>

#include "gradoracle/engine/ops.hpp"
#include "gradoracle/engine/random.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

#include "cube.hpp"

using namespace gradoracle;

// cube with a planted bug: its backward gives g·2x² where g·3x² is right.
Tensor cube_wrong_backward(const Tensor& x) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = x * x * x;
  }
  record(y, "CubeBackward", {x}, [x](const Tensor& g, NeedsGrad) {
    return std::vector<Tensor>{g * 2.0 * x * x};
  });
  return y;
}

const char* verdict(const oracle::GradCheckResult& r) { return r ? "passed" : "failed"; }

int main() {
  Generator gen(0);

  // Any function of engine ops: tensors in, tensors out. hold() is a detach that the checker
  // keeps constant on both sides (the backward's and the finite differences').
  oracle::Function f = [](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{tanh(matmul(in[0], in[1])) * sum(oracle::hold(in[1]))};
  };
  oracle::GradCheckResult r = oracle::gradcheck(f, {Tensor::randn({3, 4}, gen), Tensor::randn({4, 2}, gen)});
  std::cout << "f: " << verdict(r) << "\n";
  if (!r) std::cout << r;  // the worst entries by input, output and element; r.to_json() too

  // A custom op (cube.hpp), right and wrong, in float64.
  const std::vector<Tensor> x = {Tensor::randn({2, 3}, gen, DType::Float64)};
  oracle::GradCheckResult right = oracle::gradcheck([](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{cube(in[0])};
  }, x);
  oracle::GradCheckResult wrong = oracle::gradcheck([](const std::vector<Tensor>& in) {
    return std::vector<Tensor>{cube_wrong_backward(in[0])};
  }, x);
  std::cout << "cube: " << verdict(right) << "\n";
  std::cout << "cube with a wrong backward: " << verdict(wrong) << "\n" << wrong;

  return r && right && !wrong ? 0 : 1;
}
