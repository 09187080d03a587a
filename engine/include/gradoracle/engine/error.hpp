#pragma once
// Every error the engine raises on user input is a gradoracle::Error whose message
// names the op and the shapes or dims at fault, worded as PyTorch 1.13 words it.
#include <stdexcept>
#include <string>

namespace gradoracle {

enum class ErrorKind {
  Shape,     // shapes that do not broadcast, multiply or concatenate
  Dim,       // a dim out of range (PyTorch's IndexError)
  Value,     // a bad argument value: unknown reduction, negative size, ...
  Autograd,  // backward misuse: no grad_fn, freed graph, implicit grad of a non-scalar
  DType,     // mixed or unsupported dtypes
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

}  // namespace gradoracle
