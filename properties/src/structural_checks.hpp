// Checks the structural properties share (structural.cpp, bookkeeping.cpp): a leaf's .grad as
// values, and RC_FAIL with the oracle's comparison diagnosis when values or grads differ.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gradoracle/engine/tensor.hpp"
#include "gradoracle/oracle/tolerance.hpp"

namespace gradoracle::properties::detail {

// One entry per leaf: its .grad's values, or none when .grad is None (or the leaf is undefined).
using Grads = std::vector<std::optional<std::vector<double>>>;

Grads grads_of(const std::vector<Tensor>& leaves);

// RC_FAIL with oracle::compare's diagnosis unless `actual` matches `expected` (same length).
void assert_close(const std::vector<double>& actual, const std::vector<double>& expected,
                  const oracle::Tolerance& tol, const std::string& what);

// Per leaf: both None, or both defined and close; the failure names the leaf by index.
void assert_grads_close(const Grads& actual, const Grads& expected, const oracle::Tolerance& tol,
                        const std::string& what);

}  // namespace gradoracle::properties::detail
