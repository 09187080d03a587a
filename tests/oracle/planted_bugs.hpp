#pragma once
// Test-only planted backward bugs: a linear op y = x·Wᵀ + b built with the engine's record(),
// whose backward is wrong in one known way. The checker and the closed forms must catch them.
// Shapes: x (N, d), W (d, d) square (so a missing transpose keeps the shape), b (d), N ≥ 2.
#include <string>
#include <vector>

#include "gradoracle/engine/autograd.hpp"
#include "gradoracle/engine/ops.hpp"
#include "gradoracle/oracle/gradcheck.hpp"

namespace gradoracle::oracle::testing {

enum class Bug {
  None,                     // the correct backward: dx = G·W, dW = Gᵀ·x, db = G.sum(0)
  SignFlip,                 // dW = −Gᵀ·x
  MissingTranspose,         // dW = xᵀ·G (= (Gᵀ·x)ᵀ)
  DroppedAccumulation,      // db sums G over the batch but drops the last row
  WrongBroadcastReduction,  // db = G.mean(0): the bias broadcast over the batch reduced by mean
  CorruptedEntry,           // one Jacobian entry: d y[N−1, d−1] / d W[d−1, d−1] off by 0.5
  SmallRelative,            // dx = (1 + 1e-3)·G·W
};

inline const std::vector<Bug>& all_bugs() {
  static const std::vector<Bug> bugs = {Bug::SignFlip, Bug::MissingTranspose, Bug::DroppedAccumulation,
                                        Bug::WrongBroadcastReduction, Bug::CorruptedEntry, Bug::SmallRelative};
  return bugs;
}

inline std::string bug_name(Bug b) {
  switch (b) {
    case Bug::None: return "none (correct backward)";
    case Bug::SignFlip: return "sign flip (dW)";
    case Bug::MissingTranspose: return "missing transpose (dW)";
    case Bug::DroppedAccumulation: return "dropped accumulation (db, last row)";
    case Bug::WrongBroadcastReduction: return "wrong broadcast reduction (db mean)";
    case Bug::CorruptedEntry: return "one corrupted Jacobian entry (+0.5)";
    case Bug::SmallRelative: return "small relative error (dx, 1e-3)";
  }
  return "";
}

inline constexpr double kCorruption = 0.5;
inline constexpr double kSmallRelative = 1e-3;

inline Tensor planted_linear(const Tensor& x, const Tensor& w, const Tensor& b, Bug bug) {
  Tensor out = linear(x.detach(), w.detach(), b.detach());  // the value, without history
  const Tensor xs = x.detach(), ws = w.detach();
  record(out, "PlantedLinearBackward", {x, w, b}, [xs, ws, bug](const Tensor& g, NeedsGrad) {
    Tensor dx = matmul(g, ws);
    Tensor dw = matmul(t(g), xs);
    Tensor db = sum(g, {0});
    const int64_t n = g.size(0), d = g.size(1);
    switch (bug) {
      case Bug::None: break;
      case Bug::SignFlip: dw = neg(dw); break;
      case Bug::MissingTranspose: dw = matmul(t(xs), g); break;
      case Bug::DroppedAccumulation: {
        std::vector<double> gv = g.to_vector(), s(static_cast<size_t>(d), 0.0);
        for (int64_t r = 0; r + 1 < n; ++r)
          for (int64_t c = 0; c < d; ++c) s[static_cast<size_t>(c)] += gv[static_cast<size_t>(r * d + c)];
        db = Tensor::from_data({d}, s, g.dtype());
        break;
      }
      case Bug::WrongBroadcastReduction: db = mean(g, {0}); break;
      case Bug::CorruptedEntry: {
        std::vector<double> wv = dw.to_vector();
        wv.back() += kCorruption * g.to_vector().back();  // J[(N−1, d−1), (d−1, d−1)] += 0.5
        dw = Tensor::from_data(dw.shape(), wv, g.dtype());
        break;
      }
      case Bug::SmallRelative: dx = mul(dx, 1.0 + kSmallRelative); break;
    }
    return std::vector<Tensor>{dx, dw, db};
  });
  return out;
}

// The planted op as a function of (x, W, b), for the checker.
inline Function planted_function(Bug bug) {
  return [bug](const std::vector<Tensor>& v) { return std::vector<Tensor>{planted_linear(v[0], v[1], v[2], bug)}; };
}

}  // namespace gradoracle::oracle::testing
