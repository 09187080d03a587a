// The engine benchmarks' two steps (engine_bench.cpp), as a plain program for instruction counts
// under callgrind (tools/bench_instructions.sh): counts do not depend on the machine's load, so an
// engine change can be compared with an earlier revision on a busy machine.
// Usage: engine_steps tutorial|mlp [STEPS]
//   tutorial: the tutorial's Linear(5, 2) on a batch of 8, forward and backward with ones upstream;
//   mlp:      a 3-layer tanh MLP (128 wide, batch 64) with mse_loss, forward and backward.
#include <cstdlib>
#include <iostream>
#include <string>

#include "gradoracle/engine/nn.hpp"

int main(int argc, char** argv) {
  using namespace gradoracle;
  const std::string step = argc > 1 ? argv[1] : "";
  const long steps = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 1000;
  if ((step != "tutorial" && step != "mlp") || steps <= 0) {
    std::cerr << "usage: engine_steps tutorial|mlp [STEPS > 0]\n";
    return 2;
  }
  Generator gen(0);
  float checksum = 0;
  if (step == "tutorial") {
    nn::Linear linear(5, 2, gen);
    const Tensor x = Tensor::randn({8, 5}, gen);
    const Tensor ones = Tensor::ones({8, 2});
    for (long i = 0; i < steps; ++i) {
      linear.zero_grad(true);
      Tensor y = linear(x);
      y.backward(ones);
      checksum += linear.weight.grad().data<float>()[0];
    }
  } else {
    nn::Linear l1(128, 128, gen), l2(128, 128, gen), l3(128, 1, gen);
    const Tensor x = Tensor::randn({64, 128}, gen);
    const Tensor target = Tensor::randn({64, 1}, gen);
    for (long i = 0; i < steps; ++i) {
      for (auto* l : {&l1, &l2, &l3}) l->zero_grad(true);
      Tensor loss = mse_loss(l3(tanh(l2(tanh(l1(x))))), target);
      loss.backward();
      checksum += l1.weight.grad().data<float>()[0];
    }
  }
  std::cout << step << " x" << steps << " checksum " << checksum << "\n";
  return 0;
}
