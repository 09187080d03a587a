#pragma once
// A seedable generator with the same stream on every platform (no std:: distributions,
// whose outputs are implementation-defined).
#include <cstdint>
#include <random>

namespace gradoracle {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  void seed(uint64_t seed) { engine_.seed(seed); }
  uint64_t next_u64() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Standard normal (Box-Muller).
  double normal();
  // Uniform integer in [low, high].
  int64_t integer(int64_t low, int64_t high);

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace gradoracle
